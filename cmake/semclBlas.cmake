# The CPU BLAS for the shared-pool GEMMs (semcl_pos_neg_shared_embed), found with FindBLAS.
#
#   SEMCL_BLAS=AUTO  use a BLAS when one is found, else semcl's builtin GEMM (the default)
#   SEMCL_BLAS=ON    a BLAS is required
#   SEMCL_BLAS=OFF   always the builtin GEMM
#
# OpenBLAS is preferred, and on Debian its serial flavour (libopenblas-serial-dev): the pthread
# and OpenMP flavours start threads of their own, and when that fails they print and end the
# process, which libsemcl must never do. semcl calls only the Fortran symbol sgemm_, which
# every BLAS provides. Sets SEMCL_HAVE_BLAS and extends SEMCL_LINK_DEPS, SEMCL_PACKAGE_DEPS and
# SEMCL_PC_STATIC_LIBS (set before this file is included).
set(SEMCL_BLAS "AUTO" CACHE STRING "CPU BLAS for the shared-pool GEMMs: AUTO, ON or OFF (builtin GEMM)")
set_property(CACHE SEMCL_BLAS PROPERTY STRINGS AUTO ON OFF)

set(SEMCL_HAVE_BLAS OFF)
set(SEMCL_BLAS_RUNTIME_DIR "")
if(NOT SEMCL_BLAS STREQUAL "OFF")
  # Debian installs each OpenBLAS flavour in its own directory; the serial one first.
  if(CMAKE_LIBRARY_ARCHITECTURE AND EXISTS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-serial)
    list(PREPEND CMAKE_LIBRARY_PATH /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-serial)
  endif()
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS QUIET)
  if(NOT BLAS_FOUND)
    unset(BLA_VENDOR)
    find_package(BLAS QUIET)
  endif()
  if(BLAS_FOUND)
    set(SEMCL_HAVE_BLAS ON)
    list(APPEND SEMCL_LINK_DEPS BLAS::BLAS)
    string(APPEND SEMCL_PACKAGE_DEPS "\nfind_dependency(BLAS)")
    foreach(_semcl_blas_lib IN LISTS BLAS_LIBRARIES)
      if(_semcl_blas_lib MATCHES "^/")
        get_filename_component(_semcl_blas_dir ${_semcl_blas_lib} DIRECTORY)
        get_filename_component(_semcl_blas_name ${_semcl_blas_lib} NAME_WE)
        string(REGEX REPLACE "^lib" "" _semcl_blas_name ${_semcl_blas_name})
        string(APPEND SEMCL_PC_STATIC_LIBS " -L${_semcl_blas_dir} -l${_semcl_blas_name}")
        # A flavour directory is not on the loader's path: libsemcl.so keeps a run-time path to
        # it, so that the serial flavour is loaded whichever flavour the system alternatives
        # make the default.
        if(_semcl_blas_dir MATCHES "openblas-serial$")
          set(SEMCL_BLAS_RUNTIME_DIR ${_semcl_blas_dir})
        endif()
      else()
        string(APPEND SEMCL_PC_STATIC_LIBS " ${_semcl_blas_lib}")
      endif()
    endforeach()
    message(STATUS "semcl: CPU BLAS for the shared-pool GEMMs: ${BLAS_LIBRARIES}")
  elseif(SEMCL_BLAS STREQUAL "ON")
    message(FATAL_ERROR "SEMCL_BLAS=ON but FindBLAS found no BLAS (Debian: apt-get install libopenblas-serial-dev)")
  else()
    message(STATUS "semcl: no BLAS found: the shared-pool GEMMs use semcl's builtin GEMM (Debian: apt-get install libopenblas-serial-dev)")
  endif()
endif()
