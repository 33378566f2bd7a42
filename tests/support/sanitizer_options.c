/* sanitizer_options.c — run-time defaults of the sanitizers for the test programs, compiled into
 * each of them in a SEMCL_SANITIZE build (cmake/semclSanitize.cmake). The runtimes read these
 * before the environment, so ASAN_OPTIONS, UBSAN_OPTIONS and TSAN_OPTIONS still override them.
 *
 *  - allocator_may_return_null=1: an allocation that cannot be served returns NULL, as malloc
 *    does without ASan (ASan's default is to abort the program). The library promises to turn
 *    every failed allocation into SEMCL_STATUS_OUT_OF_MEMORY, and tests check exactly that
 *    (semcl_buffer_alloc(SIZE_MAX / 2)): they must see malloc fail the way it fails in use.
 *  - die_after_fork=0 (TSan): by default ThreadSanitizer refuses to start threads in the child
 *    of a multi-threaded fork, which is exactly what
 *    ThreadPool.ForkedChildDoesNotDeadlockOnAnInheritedPool checks.
 *  - everything else makes a finding loud: leaks, init-order, stacks, stop at the first error.
 */
#if defined(__GNUC__)
#define SEMCL_SANITIZER_HOOK __attribute__((visibility("default"), used))
#else
#define SEMCL_SANITIZER_HOOK
#endif

const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
const char *__tsan_default_options(void);

SEMCL_SANITIZER_HOOK const char *__asan_default_options(void) {
  return "allocator_may_return_null=1:detect_leaks=1:check_initialization_order=1:"
         "strict_init_order=1:detect_stack_use_after_return=1";
}

SEMCL_SANITIZER_HOOK const char *__ubsan_default_options(void) {
  return "print_stacktrace=1:halt_on_error=1";
}

SEMCL_SANITIZER_HOOK const char *__tsan_default_options(void) {
  return "halt_on_error=1:second_deadlock_stack=1:die_after_fork=0";
}
