# Install rules: the shared and the static library, the header, the CMake package
# (find_package(semcl) -> semcl::semcl, semcl::semcl_static) and two pkg-config files
# (semcl: the shared library; semcl-static: libsemcl.a and what it needs).
include(CMakePackageConfigHelpers)

install(TARGETS semcl semcl_static EXPORT semclTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/semcl/semcl.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/semcl)
install(EXPORT semclTargets NAMESPACE semcl:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/semcl)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/semclConfig.cmake.in
  ${PROJECT_BINARY_DIR}/semclConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/semcl)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/semclConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/semclConfig.cmake ${PROJECT_BINARY_DIR}/semclConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/semcl)

# Relocatable pkg-config files: the prefix is found from the file's own directory.
file(RELATIVE_PATH SEMCL_PC_PREFIX_FROM_PCDIR "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
string(REGEX REPLACE "/$" "" SEMCL_PC_PREFIX_FROM_PCDIR "${SEMCL_PC_PREFIX_FROM_PCDIR}")
foreach(_semcl_pc IN ITEMS semcl semcl-static)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/${_semcl_pc}.pc.in ${PROJECT_BINARY_DIR}/${_semcl_pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/${_semcl_pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()
