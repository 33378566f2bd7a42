/* fuzz_ops.c — every entry point besides the losses, with fuzzed arguments (enums out of
 * range, NULLs, sizes at the limits), each checked against the header: the status, what the
 * getters return afterwards, and that a refused call changed nothing. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_state.h"
#include "reference.h"

static int raw_int(fuzz_reader *r, int valid_count) {
  static const int bad[] = {-1, 3, 7, 99, 1025, INT_MIN, INT_MAX};
  const uint8_t v = fuzz_u8(r);
  return v < 224 ? v % valid_count : bad[v % (sizeof bad / sizeof bad[0])];
}

static int64_t size_arg(fuzz_reader *r) {
  static const int64_t table[] = {0,       -1, INT64_MIN, INT64_MAX, INT64_MAX / 4, INT64_MAX / 4 + 1,
                                  (int64_t)1 << 31, (int64_t)1 << 32, (int64_t)1 << 62, 1000000};
  const uint8_t v = fuzz_u8(r);
  return v < 160 ? 1 + v % 100 : table[v % (sizeof table / sizeof table[0])];
}

static void expect_status(semcl_status_t got, semcl_status_t want, const char *what,
                          const semcl_context *ctx) {
  FUZZ_CHECK(got == want, "%s returned %s, expected %s (%s)", what, semcl_status_name(got),
             semcl_status_name(want), ctx ? semcl_last_error(ctx) : "");
  if (ctx && want != SEMCL_STATUS_SUCCESS)
    FUZZ_CHECK(semcl_last_error(ctx)[0] != '\0', "%s: %s without a message", what,
               semcl_status_name(got));
}

/* ---- context settings ------------------------------------------------------------------- */

static void check_settings(const fuzz_state *s) {
  int threads = -99, checks = -99;
  semcl_cpu_isa_t isa = SEMCL_CPU_ISA_SCALAR;
  expect_status(semcl_get_threads(s->ctx, &threads), SEMCL_STATUS_SUCCESS, "semcl_get_threads",
                s->ctx);
  FUZZ_CHECK(threads == s->threads, "semcl_get_threads = %d, expected %d", threads, s->threads);
  expect_status(semcl_get_cpu_isa(s->ctx, &isa), SEMCL_STATUS_SUCCESS, "semcl_get_cpu_isa",
                s->ctx);
  FUZZ_CHECK(isa == s->isa, "semcl_get_cpu_isa = %d, expected %d", (int)isa, (int)s->isa);
  expect_status(semcl_get_pointer_checks(s->ctx, &checks), SEMCL_STATUS_SUCCESS,
                "semcl_get_pointer_checks", s->ctx);
  FUZZ_CHECK(checks == s->pointer_checks, "semcl_get_pointer_checks = %d", checks);
}

void fuzz_settings_op(fuzz_state *s, fuzz_reader *r) {
  switch (fuzz_pick(r, 5)) {
    case 0: { /* threads: 0..1024 */
      static const int special[] = {1024, 1025, -1, INT_MIN, INT_MAX, 9};
      const uint8_t v = fuzz_u8(r);
      const int t = v < 200 ? v % 5 : special[v % 6];
      const int ok = t >= 0 && t <= 1024;
      expect_status(semcl_set_threads(s->ctx, t),
                    ok ? SEMCL_STATUS_SUCCESS : SEMCL_STATUS_INVALID_VALUE, "semcl_set_threads",
                    s->ctx);
      if (ok) s->threads = t;
      check_settings(s);
      if (s->threads > 4) { /* keep later calls cheap: many threads for small calls is slow */
        expect_status(semcl_set_threads(s->ctx, 2), SEMCL_STATUS_SUCCESS, "semcl_set_threads",
                      s->ctx);
        s->threads = 2;
      }
      expect_status(semcl_set_threads(NULL, 1), SEMCL_STATUS_NULL_CONTEXT, "semcl_set_threads",
                    NULL);
      expect_status(semcl_get_threads(s->ctx, NULL), SEMCL_STATUS_NULL_POINTER,
                    "semcl_get_threads(ctx, NULL)", s->ctx);
      break;
    }
    case 1: { /* ISA level: invalid enum, or valid but not on this CPU */
      const int isa = raw_int(r, 3);
      const semcl_status_t want = isa < 0 || isa > 2 ? SEMCL_STATUS_INVALID_ENUM
                                  : s->supported[isa] ? SEMCL_STATUS_SUCCESS
                                                      : SEMCL_STATUS_INVALID_VALUE;
      expect_status(semcl_set_cpu_isa(s->ctx, (semcl_cpu_isa_t)isa), want, "semcl_set_cpu_isa",
                    s->ctx);
      if (want == SEMCL_STATUS_SUCCESS) s->isa = (semcl_cpu_isa_t)isa;
      check_settings(s);
      expect_status(semcl_get_cpu_isa(s->ctx, NULL), SEMCL_STATUS_NULL_POINTER,
                    "semcl_get_cpu_isa(ctx, NULL)", s->ctx);
      break;
    }
    case 2: { /* pointer checks: 0 or 1 (no effect in a CPU-only build) */
      const int v = raw_int(r, 2);
      const int ok = v == 0 || v == 1;
      expect_status(semcl_set_pointer_checks(s->ctx, v),
                    ok ? SEMCL_STATUS_SUCCESS : SEMCL_STATUS_INVALID_VALUE,
                    "semcl_set_pointer_checks", s->ctx);
      if (ok) s->pointer_checks = v;
      check_settings(s);
      expect_status(semcl_get_pointer_checks(s->ctx, NULL), SEMCL_STATUS_NULL_POINTER,
                    "semcl_get_pointer_checks(ctx, NULL)", s->ctx);
      break;
    }
    case 3: { /* a stream on a CPU context: stored, returned, ignored */
      struct CUstream_st *stream = (struct CUstream_st *)(uintptr_t)fuzz_u64(r), *back = NULL;
      expect_status(semcl_set_stream(s->ctx, stream), SEMCL_STATUS_SUCCESS, "semcl_set_stream",
                    s->ctx);
      expect_status(semcl_get_stream(s->ctx, &back), SEMCL_STATUS_SUCCESS, "semcl_get_stream",
                    s->ctx);
      FUZZ_CHECK(back == stream, "semcl_get_stream returned another stream");
      expect_status(semcl_get_stream(s->ctx, NULL), SEMCL_STATUS_NULL_POINTER,
                    "semcl_get_stream(ctx, NULL)", s->ctx);
      expect_status(semcl_set_stream(NULL, stream), SEMCL_STATUS_NULL_CONTEXT, "semcl_set_stream",
                    NULL);
      expect_status(semcl_synchronize(s->ctx), SEMCL_STATUS_SUCCESS, "semcl_synchronize", s->ctx);
      break;
    }
    default: { /* backend, note, synchronize */
      semcl_backend_t b = SEMCL_BACKEND_AUTO;
      expect_status(semcl_get_backend(NULL, &b), SEMCL_STATUS_NULL_CONTEXT, "semcl_get_backend",
                    NULL);
      FUZZ_CHECK(b == SEMCL_BACKEND_AUTO, "semcl_get_backend(NULL, &b) wrote b");
      expect_status(semcl_get_backend(s->ctx, NULL), SEMCL_STATUS_NULL_POINTER,
                    "semcl_get_backend(ctx, NULL)", s->ctx);
      expect_status(semcl_get_backend(s->ctx, &b), SEMCL_STATUS_SUCCESS, "semcl_get_backend",
                    s->ctx);
      FUZZ_CHECK(b == SEMCL_BACKEND_CPU, "semcl_get_backend = %d on a CPU context", (int)b);
      FUZZ_CHECK(semcl_backend_note(s->ctx) && semcl_backend_note(s->ctx)[0] == '\0',
                 "an explicit CPU context has a backend note");
      FUZZ_CHECK(semcl_backend_note(NULL) && semcl_backend_note(NULL)[0] != '\0',
                 "semcl_backend_note(NULL)");
      expect_status(semcl_synchronize(NULL), SEMCL_STATUS_NULL_CONTEXT, "semcl_synchronize",
                    NULL);
      expect_status(semcl_synchronize(s->ctx), SEMCL_STATUS_SUCCESS, "semcl_synchronize", s->ctx);
      FUZZ_CHECK(semcl_last_error(s->ctx)[0] == '\0', "message after a success");
      break;
    }
  }
}

/* ---- workspace -------------------------------------------------------------------------- */

void fuzz_workspace_query_op(fuzz_state *s, fuzz_reader *r) {
  const int kind = raw_int(r, 2);
  const int64_t B = size_arg(r), K = size_arg(r);
  const int null_bytes = fuzz_u8(r) >= 240, null_ctx = fuzz_u8(r) >= 250;
  const size_t sentinel = 0x5eed5eedu;
  size_t bytes = sentinel;
  const semcl_status_t st = semcl_get_workspace_size(
      null_ctx ? NULL : s->ctx, (semcl_loss_kind_t)kind, B, K, null_bytes ? NULL : &bytes);
  unsigned allowed = 0;
  const int64_t k = kind == SEMCL_LOSS_POS_NEG ? K : 1;
  if (null_ctx) {
    allowed = 1u << SEMCL_STATUS_NULL_CONTEXT;
  } else {
    if (null_bytes) allowed |= 1u << SEMCL_STATUS_NULL_POINTER;
    if (kind != 0 && kind != 1) allowed |= 1u << SEMCL_STATUS_INVALID_ENUM;
    if (B <= 0 || K <= 0) /* K is checked even for the positive-only loss */
      allowed |= 1u << SEMCL_STATUS_INVALID_SIZE;
    else if (k > (INT64_MAX / 4) / B)
      allowed |= 1u << SEMCL_STATUS_SIZE_OVERFLOW;
  }
  if (allowed == 0) {
    expect_status(st, SEMCL_STATUS_SUCCESS, "semcl_get_workspace_size", s->ctx);
    FUZZ_CHECK(bytes != sentinel, "semcl_get_workspace_size succeeded without writing");
    size_t again = 0;
    semcl_get_workspace_size(s->ctx, (semcl_loss_kind_t)kind, B, K, &again);
    FUZZ_CHECK(again == bytes, "two workspace queries disagree (%zu, %zu)", bytes, again);
  } else {
    FUZZ_CHECK(st < 32 && (allowed >> st & 1), "semcl_get_workspace_size(kind %d, B %lld, K %lld)"
               " returned %s, allowed 0x%x", kind, (long long)B, (long long)K,
               semcl_status_name(st), allowed);
    FUZZ_CHECK(bytes == sentinel, "semcl_get_workspace_size wrote *bytes on error");
    if (!null_ctx)
      FUZZ_CHECK(semcl_last_error(s->ctx)[0] != '\0', "workspace query error without message");
  }
}

void fuzz_workspace_set_op(fuzz_state *s, fuzz_reader *r) {
  const size_t offset = 64 + (size_t)fuzz_u16(r) * 16 % (FUZZ_ARENA_BYTES / 2);
  size_t bytes = 1 + fuzz_u16(r) * (size_t)fuzz_pick(r, 8);
  switch (fuzz_pick(r, 6)) {
    case 0:
      expect_status(semcl_set_workspace(s->ctx, NULL, 0), SEMCL_STATUS_SUCCESS,
                    "semcl_set_workspace(NULL, 0)", s->ctx);
      s->workspace = NULL, s->workspace_bytes = 0;
      return;
    case 1:
      expect_status(semcl_set_workspace(s->ctx, NULL, bytes), SEMCL_STATUS_INVALID_VALUE,
                    "semcl_set_workspace(NULL, n)", s->ctx);
      return;
    case 2:
      expect_status(semcl_set_workspace(s->ctx, s->arena + offset, 0), SEMCL_STATUS_INVALID_VALUE,
                    "semcl_set_workspace(p, 0)", s->ctx);
      return;
    case 3:
      expect_status(semcl_set_workspace(s->ctx, s->arena + offset + 1 + fuzz_pick(r, 15), bytes),
                    SEMCL_STATUS_INVALID_VALUE, "semcl_set_workspace(misaligned)", s->ctx);
      return;
    case 4:
      expect_status(semcl_set_workspace(NULL, s->arena + offset, bytes),
                    SEMCL_STATUS_NULL_CONTEXT, "semcl_set_workspace(NULL ctx)", NULL);
      return;
    default:
      if (offset + bytes > FUZZ_ARENA_BYTES) bytes = FUZZ_ARENA_BYTES - offset;
      expect_status(semcl_set_workspace(s->ctx, s->arena + offset, bytes), SEMCL_STATUS_SUCCESS,
                    "semcl_set_workspace", s->ctx);
      s->workspace = s->arena + offset, s->workspace_bytes = bytes;
      return;
  }
}

/* ---- buffers ------------------------------------------------------------------------------ */

void fuzz_buffer_op(fuzz_state *s, fuzz_reader *r) {
  const uint8_t how = fuzz_u8(r);
  size_t bytes = how < 16 ? 0 : 1 + fuzz_u16(r);
  void *buf = (void *)&bytes; /* not NULL: the refused calls must set it to NULL */
  if (how >= 250) {
    expect_status(semcl_buffer_alloc(s->ctx, NULL, 8), SEMCL_STATUS_NULL_POINTER,
                  "semcl_buffer_alloc(ctx, NULL, 8)", s->ctx);
    expect_status(semcl_buffer_alloc(NULL, &buf, 8), SEMCL_STATUS_NULL_CONTEXT,
                  "semcl_buffer_alloc(NULL ctx)", NULL);
    expect_status(semcl_buffer_free(NULL, NULL), SEMCL_STATUS_NULL_CONTEXT,
                  "semcl_buffer_free(NULL ctx)", NULL);
    return;
  }
  const semcl_status_t st = semcl_buffer_alloc(s->ctx, &buf, bytes);
  if (bytes == 0) {
    expect_status(st, SEMCL_STATUS_INVALID_SIZE, "semcl_buffer_alloc(0 bytes)", s->ctx);
    FUZZ_CHECK(buf == NULL, "semcl_buffer_alloc failed without setting *ptr to NULL");
    expect_status(semcl_buffer_free(s->ctx, buf), SEMCL_STATUS_SUCCESS, "semcl_buffer_free(NULL)",
                  s->ctx);
    return;
  }
  expect_status(st, SEMCL_STATUS_SUCCESS, "semcl_buffer_alloc", s->ctx);
  FUZZ_CHECK(buf != NULL, "semcl_buffer_alloc succeeded with a NULL buffer");
  unsigned char *host = (unsigned char *)malloc(bytes), *back = (unsigned char *)malloc(bytes);
  for (size_t i = 0; i < bytes; ++i) host[i] = (unsigned char)(i * 131u + how);
  memset(back, 0x5a, bytes);
  const size_t n = fuzz_u16(r) % (bytes + 1);
  switch (fuzz_pick(r, 4)) {
    case 0: /* refused copies write nothing */
      expect_status(semcl_upload(s->ctx, NULL, host, n), SEMCL_STATUS_NULL_POINTER,
                    "semcl_upload(dst NULL)", s->ctx);
      expect_status(semcl_download(s->ctx, back, NULL, n), SEMCL_STATUS_NULL_POINTER,
                    "semcl_download(src NULL)", s->ctx);
      expect_status(semcl_download(s->ctx, back, buf, SIZE_MAX - fuzz_u8(r)),
                    SEMCL_STATUS_SIZE_OVERFLOW, "semcl_download(SIZE_MAX)", s->ctx);
      expect_status(semcl_upload(NULL, buf, host, n), SEMCL_STATUS_NULL_CONTEXT,
                    "semcl_upload(NULL ctx)", NULL);
      for (size_t i = 0; i < bytes; ++i)
        FUZZ_CHECK(back[i] == 0x5a, "a refused download wrote byte %zu", i);
      break;
    case 1: { /* overlapping copies inside the buffer: must not crash (contents unspecified) */
      const size_t shift = fuzz_u16(r) % bytes;
      expect_status(semcl_upload(s->ctx, (unsigned char *)buf + shift, buf, bytes - shift),
                    SEMCL_STATUS_SUCCESS, "semcl_upload(overlapping)", s->ctx);
      break;
    }
    default: { /* a round trip of n bytes at an offset */
      const size_t at = bytes - n == 0 ? 0 : fuzz_u16(r) % (bytes - n + 1);
      expect_status(semcl_upload(s->ctx, (unsigned char *)buf + at, host, n), SEMCL_STATUS_SUCCESS,
                    "semcl_upload", s->ctx);
      expect_status(semcl_download(s->ctx, back, (unsigned char *)buf + at, n),
                    SEMCL_STATUS_SUCCESS, "semcl_download", s->ctx);
      fuzz_expect_same_bits("semcl_upload + semcl_download round trip", host, back, n);
      break;
    }
  }
  free(host);
  free(back);
  expect_status(semcl_buffer_free(s->ctx, buf), SEMCL_STATUS_SUCCESS, "semcl_buffer_free",
                s->ctx);
}

/* ---- status texts, version, context creation ------------------------------------------------- */

void fuzz_status_op(fuzz_reader *r) {
  static const char *const names[] = {
      "SEMCL_STATUS_SUCCESS",          "SEMCL_STATUS_NULL_CONTEXT",
      "SEMCL_STATUS_NULL_POINTER",     "SEMCL_STATUS_INVALID_SIZE",
      "SEMCL_STATUS_SIZE_OVERFLOW",    "SEMCL_STATUS_NON_FINITE_SCALAR",
      "SEMCL_STATUS_INVALID_ENUM",     "SEMCL_STATUS_ALIASING",
      "SEMCL_STATUS_BACKEND_UNAVAILABLE", "SEMCL_STATUS_WRONG_MEMORY_SPACE",
      "SEMCL_STATUS_OUT_OF_MEMORY",    "SEMCL_STATUS_CUDA_ERROR",
      "SEMCL_STATUS_INVALID_VALUE",    "SEMCL_STATUS_INTERNAL_ERROR"};
  const int v = (int)fuzz_u32(r);
  const int st = fuzz_bool(r) ? v % 16 : v;
  const char *name = semcl_status_name((semcl_status_t)st);
  const char *text = semcl_status_string((semcl_status_t)st);
  FUZZ_CHECK(name && text && text[0], "status %d: a NULL or empty text", st);
  FUZZ_CHECK(strcmp(name, st >= 0 && st <= 13 ? names[st] : "SEMCL_STATUS_UNKNOWN") == 0,
             "semcl_status_name(%d) = %s", st, name);
  static const char *const isa_names[] = {"scalar", "avx2", "avx512"};
  const int isa = fuzz_bool(r) ? v % 4 : v;
  FUZZ_CHECK(strcmp(semcl_cpu_isa_name((semcl_cpu_isa_t)isa),
                    isa >= 0 && isa <= 2 ? isa_names[isa] : "unknown") == 0,
             "semcl_cpu_isa_name(%d)", isa);
  const size_t dsize = semcl_dtype_size((semcl_dtype_t)isa);
  FUZZ_CHECK(dsize == (isa == 0 ? 4u : isa == 1 || isa == 2 ? 2u : 0u), "semcl_dtype_size(%d) = %zu",
             isa, dsize);
  FUZZ_CHECK(semcl_version_number() == SEMCL_VERSION_NUMBER, "semcl_version_number");
  FUZZ_CHECK(semcl_version_string() && semcl_version_string()[0], "semcl_version_string");
  FUZZ_CHECK(semcl_has_cuda_build() == 0, "the fuzz build has no CUDA backend");
  FUZZ_CHECK(semcl_last_error(NULL) && semcl_last_error(NULL)[0], "semcl_last_error(NULL)");
}

void fuzz_create_op(fuzz_reader *r) {
  const int backend = raw_int(r, 3);
  semcl_context *ctx = (semcl_context *)&ctx; /* not NULL: refusals must reset it */
  const int null_out = fuzz_bool(r);
  const semcl_status_t st = semcl_create(null_out ? NULL : &ctx, (semcl_backend_t)backend);
  if (null_out) {
    FUZZ_CHECK(st == SEMCL_STATUS_NULL_POINTER, "semcl_create(NULL) returned %s",
               semcl_status_name(st));
    return;
  }
  if (backend == SEMCL_BACKEND_AUTO || backend == SEMCL_BACKEND_CPU) {
    FUZZ_CHECK(st == SEMCL_STATUS_SUCCESS && ctx, "semcl_create(%d) returned %s", backend,
               semcl_status_name(st));
    const char *note = semcl_backend_note(ctx);
    FUZZ_CHECK(note && (backend == SEMCL_BACKEND_AUTO) == (note[0] != '\0'),
               "backend note \"%s\" for backend %d", note ? note : "(null)", backend);
    semcl_destroy(ctx);
  } else {
    FUZZ_CHECK(st == (backend == SEMCL_BACKEND_CUDA ? SEMCL_STATUS_BACKEND_UNAVAILABLE
                                                    : SEMCL_STATUS_INVALID_ENUM),
               "semcl_create(%d) returned %s", backend, semcl_status_name(st));
    FUZZ_CHECK(ctx == NULL, "semcl_create refused but left *ctx set");
  }
  semcl_destroy(NULL);
}

/* ---- after everything: the context still computes the right thing ---------------------------- */

void fuzz_context_still_works(fuzz_state *s) {
  expect_status(semcl_set_workspace(s->ctx, NULL, 0), SEMCL_STATUS_SUCCESS,
                "semcl_set_workspace(NULL, 0)", s->ctx);
  s->workspace = NULL, s->workspace_bytes = 0;
  check_settings(s);
  enum { B = 3, K = 5 };
  static const float raw[B] = {0.5f, -1.25f, 3.0f}, pos[B] = {1.5f, -2.0f, 0.25f};
  static const float y[B] = {1.0f, 0.0f, 0.3f};
  static const float neg[B * K] = {0.1f, -0.3f, 2.0f, 0.4f, -1.5f, 0.0f, 7.0f, -6.0f,
                                   1.0f, 2.5f,  3.0f, -4.0f, 0.7f, 0.2f, -0.9f};
  float loss, ctr, aux, graw[B], gpos[B], gneg[B * K];
  expect_status(semcl_pos_neg_forward_backward(s->ctx, B, K, raw, pos, neg, y, 0.5f,
                                               SEMCL_REDUCTION_MEAN, 2.0f, NULL, &loss, &ctr, &aux,
                                               graw, gpos, gneg),
                SEMCL_STATUS_SUCCESS, "the check call after the input's operations", s->ctx);
  double e[3 + 2 * B + B * K];
  semcl_ref_pos_neg(B, K, raw, pos, neg, y, 0.5, SEMCL_REDUCTION_MEAN, 2.0, NULL, &e[0], &e[1],
                    &e[2], e + 3, e + 3 + B, e + 3 + 2 * B);
  fuzz_expect_close("loss (check call)", &loss, &e[0], 1, NULL);
  fuzz_expect_close("loss_aux (check call)", &aux, &e[2], 1, NULL);
  fuzz_expect_close("grad_pos (check call)", gpos, e + 3 + B, B, NULL);
  fuzz_expect_close("grad_neg (check call)", gneg, e + 3 + 2 * B, B * K, NULL);
  (void)ctr, (void)graw;
}
