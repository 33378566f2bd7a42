/*
 * pos_neg_device.cuh — the pairwise loss's per-row and per-element device code, shared by its
 * kernels (pos_neg_rows_cuda.cu: K <= 1024; pos_neg_split_cuda.cu: K > 1024;
 * pos_neg_counts_cuda.cu: masks). Not installed.
 *
 * The CPU twin of everything here is src/cpu/kernels_body.h: setup_row (the row's constants),
 * chunk_body (a chunk's terms, sums and gradients) and finish_rows (the row epilogue through
 * semcl_pos_neg_finish_row).
 *
 * Variants are template parameters: DT (score/gradient dtype), MASK (which masks the call has)
 * and BWD (whether the sigmoid sums and grad_neg are needed: grad_pos or grad_neg requested;
 * grad_raw alone needs only the row epilogue). A forward kernel (BWD false) never forms the
 * sigmoid: semcl_softplus_sigmoid's division is dead code there and the compiler drops it.
 */
#ifndef SEMCL_CUDA_POS_NEG_DEVICE_CUH
#define SEMCL_CUDA_POS_NEG_DEVICE_CUH

#include <type_traits>

#include "cuda_device.cuh"

enum { SEMCL_MASK_NONE = 0, SEMCL_MASK_COUNT = 1, SEMCL_MASK_BYTES = 2, SEMCL_MASK_BOTH = 3 };

/* Rows of a K <= 1024 call whose negatives one block handles before its row epilogue need the
 * chunk kernel for K above this. */
#define SEMCL_CUDA_ROW_KERNEL_MAX_K SEMCL_CHUNK
/* Split-K: one warp handles up to this many consecutive chunks of a row and adds their values
 * by T (an aligned group of 8 chunks is a node of the row's tree). */
#define SEMCL_CUDA_CHUNK_GROUP 8
/* Elements a lane loads before it computes any of them (memory-level parallelism): enough
 * bytes in flight per SM for the copy rate at ~24 resident warps. 8 fp32 loads suffice when
 * half the traffic is gradient stores; reads alone (forward) or 16-bit elements need 16. With
 * a byte mask (a second load per element) 8, which keeps the kernel within 80 registers. */
template <int DT, int MASK, bool BWD>
struct semcl_cuda_batch {
  enum { value = ((DT == SEMCL_DT_F32 && BWD) || (MASK & SEMCL_MASK_BYTES)) ? 8 : 16 };
};

/* One call of the pairwise loss as every kernel sees it (passed by value). */
typedef struct semcl_pos_neg_args {
  semcl_row_consts rc; /* rc.N: B*K, or counted on the device (real_pairs) when masked */
  int64_t B, K;
  const void *score_raw, *score_pos; /* (B) in dtype */
  const void *score_neg;             /* (B,K) in dtype; may be == grad_neg (in place) */
  const float *y;                    /* (B) */
  const uint8_t *neg_mask;           /* (B,K) or NULL */
  const int32_t *neg_count;          /* (B) or NULL */
  const float *weight;               /* (B) or NULL */
  const float *pos_weight;           /* (pos_weight_count: 1 or B) or NULL */
  int64_t pos_weight_count;
  float *loss, *loss_ctr, *loss_aux; /* (B): written here for NONE only */
  void *grad_raw, *grad_pos;         /* (B) in dtype, or NULL */
  void *grad_neg;                    /* (B,K) in dtype, or NULL */
  int64_t *counts;                   /* (B) real negatives per row when masked, else NULL */
  unsigned long long *real_pairs;    /* N when masked (device), else NULL */
  double2 *tiles;                    /* (row tiles) values for MEAN/SUM, NULL for NONE */
  double2 *groups;                   /* K > 1024: (B, ceil(chunks/8)) chunk-group values */
  int tile_rows;                     /* R: rows per tile, a power of two <= 256 */
  int log2_group;                    /* K <= 1024: 2^log2_group lanes per row */
} semcl_pos_neg_args;

/* The call's row constants, with N from the device when the call is masked. */
static __device__ __forceinline__ semcl_row_consts
semcl_cuda_row_consts(const semcl_pos_neg_args &a) {
  semcl_row_consts rc = a.rc;
  if (a.real_pairs) rc.N = (double)(int64_t)*a.real_pairs; /* as the CPU: (double)int64 */
  return rc;
}

/* ---- per-row constants (CPU: setup_row) --------------------------------------------------- */
/* What every term of a row needs, read with one 16-byte shared-memory load per term. */
struct __align__(16) semcl_cuda_row_item {
  float pos, neg_sign;
  float coef; /* grad_neg = coef * sigmoid (fp32), unless the row needs the fp64 product */
  int bits;   /* (leading terms of the current segment that neg_count allows) << 1 | fp64 */
};

/* A tile's (or, one slot per warp, the warps') row constants in shared memory: CAP rows. */
template <int CAP>
struct semcl_cuda_row_table {
  semcl_cuda_row_item item[CAP];
  double coef64[CAP];     /* the fp64 coefficient (rows with bit 0 of bits set) */
  int64_t limit[CAP];     /* the row's terms 0 .. limit-1 may be real (neg_count) */
  float sp[CAP], sg[CAP]; /* out: the rows' canonical fp32 chunk values */
};

/* Points row `slot`'s segment limit at the segment that starts at term k0 (len <= 1024). */
template <int CAP>
static __device__ __forceinline__ void semcl_cuda_set_segment(semcl_cuda_row_table<CAP> &t,
                                                              int slot, int64_t k0) {
  const int64_t left = t.limit[slot] - k0;
  const int allowed = (int)(left < 0 ? 0 : (left > SEMCL_CHUNK ? SEMCL_CHUNK : left));
  t.item[slot].bits = allowed << 1 | (t.item[slot].bits & 1);
}

template <int DT, bool BWD, int CAP>
static __device__ __forceinline__ void semcl_cuda_setup_row(const semcl_pos_neg_args &a,
                                                            const semcl_row_consts &rc, int64_t b,
                                                            semcl_cuda_row_table<CAP> &t,
                                                            int slot) {
  const float neg_sign = semcl_neg_sign(a.y[b]);
  double coef = 0.0;
  if (BWD && a.grad_neg) {
    const int64_t n = a.counts ? a.counts[b] : a.K;
    const float w = a.weight ? a.weight[b] : 1.0f;
    const double num =
        semcl_pos_neg_grad_numerator(semcl_row_upstream(&rc, b), w, rc.lambda, neg_sign);
    coef = semcl_pos_neg_neg_coef(num, semcl_pos_neg_denominator(&rc, n));
  }
  const int f64 = semcl_neg_coef_needs_f64(coef);
  semcl_cuda_row_item item;
  item.pos = semcl_cuda_load<DT>(a.score_pos, b);
  item.neg_sign = neg_sign;
  item.coef = f64 ? 0.0f : (float)coef;
  item.bits = f64;
  t.item[slot] = item;
  t.coef64[slot] = coef;
  t.limit[slot] = a.neg_count ? semcl_clamp_count(a.neg_count[b], a.K) : a.K;
  semcl_cuda_set_segment(t, slot, 0);
}

/* ---- a warp's rows of negatives (CPU: chunk_body) ------------------------------------------ */
/* How a term's gradient is written: not at all, coef * sigmoid in fp32, or through the fp64
 * coefficient (semcl_pos_neg_grad_neg), or chosen per term from the row item (RUNTIME). */
enum { SEMCL_GRAD_NONE = 0, SEMCL_GRAD_F32 = 1, SEMCL_GRAD_F64 = 2, SEMCL_GRAD_RUNTIME = 3 };

/* One term: its softplus and sigmoid into the lane's sums (masked terms add +0.0f: the same
 * bits as adding nothing), and its gradient when `write` (masked slots get exactly +0). */
template <int DT, int MASK, bool BWD, int GRAD>
static __device__ __forceinline__ void semcl_cuda_term(const semcl_cuda_row_item &c, double coef64,
                                                       float x, bool valid,
                                                       typename semcl_cuda_storage<DT>::type *grad,
                                                       bool write, int at, float *acc_sp,
                                                       float *acc_sg) {
  float sp, sg;
  semcl_softplus_sigmoid(c.neg_sign * (c.pos - x), &sp, &sg);
  *acc_sp = *acc_sp + (valid ? sp : 0.0f);
  if (!BWD) return;
  *acc_sg = *acc_sg + (valid ? sg : 0.0f);
  if (GRAD == SEMCL_GRAD_NONE || !write) return;
  const bool f64 = GRAD == SEMCL_GRAD_F64 || (GRAD == SEMCL_GRAD_RUNTIME && (c.bits & 1));
  float g = f64 ? semcl_pos_neg_grad_neg(coef64, sg) : c.coef * sg;
  if (MASK != SEMCL_MASK_NONE) g = valid ? g : 0.0f;
  semcl_cuda_store_stream<DT>(grad, at, g);
}

/* The end of a row's segment: the group's canonical fold into t.sp[r], t.sg[r] (by the group's
 * lane 0 when `write`), and fresh sums. Every lane of the warp must call it. */
template <bool BWD, int CAP>
static __device__ __forceinline__ void semcl_cuda_finish_group(semcl_cuda_row_table<CAP> &t, int r,
                                                               bool write, int log2g, float *acc_sp,
                                                               float *acc_sg) {
  const float sp_row = semcl_cuda_fold_lanes(*acc_sp, log2g);
  const float sg_row = BWD ? semcl_cuda_fold_lanes(*acc_sg, log2g) : 0.0f;
  if (write) {
    t.sp[r] = sp_row;
    t.sg[r] = sg_row;
  }
  *acc_sp = 0.0f;
  *acc_sg = 0.0f;
}

/* BATCH consecutive term slots of one row (the common case for rows of 256 terms and more):
 * the segment's terms first + lane_k + 32u, u < BATCH, at `neg` / `grad` / `mask` + 32u
 * (pointers at the lane's first term of the batch; the segment has len terms). One row item for
 * the batch and immediate offsets: no per-term bookkeeping. */
template <int DT, int MASK, bool BWD, int GRAD, int BATCH>
static __device__ __forceinline__ void semcl_cuda_row_batch(
    const semcl_cuda_row_item c, double coef64, bool row_ok, int len, int first,
    const typename semcl_cuda_storage<DT>::type *neg, typename semcl_cuda_storage<DT>::type *grad,
    const uint8_t *mask, int lane_k, float *acc_sp, float *acc_sg) {
  float x[BATCH];
  unsigned char byte[BATCH];
  const int in_end = row_ok ? len - first : 0; /* terms lane_k + 32u < in_end exist */
  int valid_end = in_end;                      /* ... and neg_count leaves them */
  if (MASK & SEMCL_MASK_COUNT) {
    const int allowed = (c.bits >> 1) - first;
    valid_end = valid_end < allowed ? valid_end : allowed;
  }
#pragma unroll
  for (int u = 0; u < BATCH; ++u) { /* loads only: they overlap in flight */
    const bool in = lane_k + u * SEMCL_WARP < in_end;
    x[u] = in ? semcl_cuda_load_stream<DT>(neg, u * SEMCL_WARP) : 0.0f;
    if (MASK & SEMCL_MASK_BYTES) byte[u] = in ? __ldcs(mask + u * SEMCL_WARP) : 0;
  }
  /* Opaque copies: the compiler would otherwise keep the loads' BATCH predicates alive for
   * the math instead of comparing again (see semcl_cuda_warp_rows). */
  const int in_end_again = semcl_cuda_opaque(in_end),
            valid_end_again = semcl_cuda_opaque(valid_end);
#pragma unroll
  for (int u = 0; u < BATCH; ++u) {
    const int k = lane_k + u * SEMCL_WARP;
    bool valid = k < valid_end_again;
    if (MASK & SEMCL_MASK_BYTES) valid = valid && byte[u] != 0;
    semcl_cuda_term<DT, MASK, BWD, GRAD>(c, coef64, x[u], valid, grad, k < in_end_again,
                                         u * SEMCL_WARP, acc_sp, acc_sg);
  }
}

/* semcl_cuda_row_batch with the batch's gradient mode: how the gradients are written is the
 * same for the whole batch (G = 32: one row per warp), so a warp-uniform branch chooses it
 * instead of a test per term. */
template <int DT, int MASK, bool BWD, int NB>
static __device__ __forceinline__ void semcl_cuda_one_row_batch(
    const semcl_cuda_row_item c, double coef64, bool row_ok, int len, int first,
    const typename semcl_cuda_storage<DT>::type *neg, typename semcl_cuda_storage<DT>::type *grad,
    const uint8_t *mask, int lane_k, float *acc_sp, float *acc_sg) {
  if (!BWD || !grad)
    semcl_cuda_row_batch<DT, MASK, BWD, SEMCL_GRAD_NONE, NB>(c, coef64, row_ok, len, first, neg,
                                                             grad, mask, lane_k, acc_sp, acc_sg);
  else if (c.bits & 1)
    semcl_cuda_row_batch<DT, MASK, BWD, SEMCL_GRAD_F64, NB>(c, coef64, row_ok, len, first, neg,
                                                            grad, mask, lane_k, acc_sp, acc_sg);
  else
    semcl_cuda_row_batch<DT, MASK, BWD, SEMCL_GRAD_F32, NB>(c, coef64, row_ok, len, first, neg,
                                                            grad, mask, lane_k, acc_sp, acc_sg);
}

/* One warp's share of a tile: `passes` passes of 32/G rows (G = 2^log2g lanes per row, rows
 * r0, r0+1, ... in table order), each row a segment of len <= SEMCL_CHUNK terms (the table's
 * segment limits refer to it). Row r's term k is element  (r - r0) * row_stride + k  of
 * `neg` / `grad` / `mask` (pointers to row r0's first term; row_stride = K, or 0 for a single
 * row; the offsets fit in an int).
 *
 * The lane -> term mapping is the canonical one: lane j of a group adds, in fp32 from +0.0f and
 * in increasing order, the terms j, j+32, j+64, ... of the segment (for G < 32 the segment has
 * len <= G terms, one per lane), then the group is folded. Masked terms and lanes past the end
 * add +0.0f (semcl_fold.h: the same bits as adding nothing).
 *
 * The warp's (row, term slot) items are flattened and loaded BATCH at a time before
 * any is computed, so a lane keeps that many loads in flight whatever K is (K = 33 has 2 terms
 * per lane and row; a batch of 8 then spans 4 rows). Item order per lane is row by row, term slot
 * by term slot, so each lane's running sum sees its terms in increasing order. A lane walks its
 * items with one running offset (+32 per term slot, to the next row's term at a row change). In
 * place (grad_neg == score_neg) every element is read before its own slot is written, by the
 * same lane.
 *
 * Rows r >= n_valid are absent (the tile's tail). Every lane of the warp must call this; the
 * item loop and the folds are warp-uniform. Writes t.sp[r], t.sg[r] for the present rows. */
template <int DT, int MASK, bool BWD, int CAP>
static __device__ __forceinline__ void semcl_cuda_warp_rows(const semcl_pos_neg_args &a,
                                                            semcl_cuda_row_table<CAP> &t, int r0,
                                                            int passes, int log2g, int len,
                                                            int row_stride, int64_t elem0,
                                                            int n_valid, int lane) {
  typedef typename semcl_cuda_storage<DT>::type elem_t;
  const int lane_k = lane & ((1 << log2g) - 1); /* term of the lane within a 32-term slot */
  const int lane_r = lane >> log2g;             /* row of the lane within a pass */
  const int rows_per_pass = SEMCL_WARP >> log2g;
  const int slots = (len + SEMCL_WARP - 1) / SEMCL_WARP; /* term slots per row (1 if G < 32) */
  const int items = passes * slots;
  /* The lane's pointers at its first term (row r0 + lane_r, term lane_k). */
  const int64_t lane0 = elem0 + (int64_t)lane_r * row_stride + lane_k;
  const elem_t *neg = (const elem_t *)a.score_neg + lane0;
  elem_t *grad = (BWD && a.grad_neg) ? (elem_t *)a.grad_neg + lane0 : NULL;
  const uint8_t *mask = (MASK & SEMCL_MASK_BYTES) ? a.neg_mask + lane0 : NULL;
  const int row_jump = rows_per_pass * row_stride - slots * SEMCL_WARP;
  float acc_sp = 0.0f, acc_sg = 0.0f;
  const int BATCH = semcl_cuda_batch<DT, MASK, BWD>::value;
  int pass = 0, slot = 0, off = 0; /* the next item: pass and slot warp-uniform */
  /* A batch of NB term slots of the current row, then the fold at the row's end. */
  auto one_row = [&](auto nb) {
    constexpr int NB = decltype(nb)::value;
    const int r = r0 + pass * rows_per_pass + lane_r;
    semcl_cuda_one_row_batch<DT, MASK, BWD, NB>(
        t.item[r], t.coef64[r], r < n_valid, len, slot * SEMCL_WARP, neg + off,
        grad ? grad + off : NULL, mask ? mask + off : NULL, lane_k, &acc_sp, &acc_sg);
    off += NB * SEMCL_WARP;
    slot += NB;
    if (slot == slots) { /* the row's last term slot: fold the group (warp-uniform) */
      semcl_cuda_finish_group<BWD>(t, r, r < n_valid && lane_k == 0, log2g, &acc_sp, &acc_sg);
      slot = 0;
      ++pass;
      off += row_jump;
    }
  };
  int q0 = 0;
#pragma unroll 1 /* a batch is unrolled already; two at once only add registers */
  while (q0 < items) {
    /* Warp-uniform: the next BATCH (or 4) items are term slots of one row. */
    if (slots - slot >= BATCH) {
      one_row(std::integral_constant<int, BATCH>());
      q0 += BATCH;
      continue;
    }
    if (BATCH > 4 && slots - slot >= 4) { /* rows of 128..(32 * BATCH - 1) terms */
      one_row(std::integral_constant<int, 4>());
      q0 += 4;
      continue;
    }
    /* The batch spans rows (K < 8 or 16 term slots) or a row's last slots: every item carries
     * its own row and term. */
    const int batch_pass = pass, batch_slot = slot, batch_off = off;
    float x[BATCH];
    unsigned char byte[BATCH];
#pragma unroll
    for (int u = 0; u < BATCH; ++u) { /* loads only: they overlap in flight */
      const bool in = q0 + u < items && r0 + pass * rows_per_pass + lane_r < n_valid &&
                      slot * SEMCL_WARP + lane_k < len;
      x[u] = in ? semcl_cuda_load_stream<DT>(neg, off) : 0.0f;
      if (MASK & SEMCL_MASK_BYTES) byte[u] = in ? __ldcs(mask + off) : 0;
      off += SEMCL_WARP;
      if (++slot == slots) {
        slot = 0;
        ++pass;
        off += row_jump;
      }
    }
    /* Walk the batch again from its start for the math. The copies are opaque to the
     * compiler: otherwise it merges the two walks and keeps every item's row, term and offset
     * alive across the batch (16 items x 4 registers), which costs occupancy. */
    pass = semcl_cuda_opaque(batch_pass);
    slot = semcl_cuda_opaque(batch_slot);
    off = semcl_cuda_opaque(batch_off);
#pragma unroll
    for (int u = 0; u < BATCH; ++u) {
      if (q0 + u >= items) break; /* warp-uniform */
      const int r = r0 + pass * rows_per_pass + lane_r, k = slot * SEMCL_WARP + lane_k;
      const int here = off;
      const bool in = r < n_valid && k < len;
      const bool last = slot == slots - 1; /* the row's last term slot */
      off += SEMCL_WARP;
      if (++slot == slots) {
        slot = 0;
        ++pass;
        off += row_jump;
      }
      const semcl_cuda_row_item c = t.item[r];
      bool valid = in;
      if (MASK & SEMCL_MASK_COUNT) valid = valid && k < (c.bits >> 1);
      if (MASK & SEMCL_MASK_BYTES) valid = valid && byte[u] != 0;
      semcl_cuda_term<DT, MASK, BWD, SEMCL_GRAD_RUNTIME>(
          c, t.coef64[r], x[u], valid, grad, in && grad != NULL, here, &acc_sp, &acc_sg);
      if (last) /* fold the group (warp-uniform) */
        semcl_cuda_finish_group<BWD>(t, r, r < n_valid && lane_k == 0, log2g, &acc_sp, &acc_sg);
    }
    q0 += BATCH;
  }
}

/* ---- row epilogue (CPU: finish_rows) --------------------------------------------------- */
/* Row b from its fp64 totals: per-sample losses (NONE), grad_raw, grad_pos, and its leaves. */
template <int DT>
static __device__ __forceinline__ void semcl_cuda_finish_row(const semcl_pos_neg_args &a,
                                                             const semcl_row_consts &rc, int64_t b,
                                                             double sp_total, double sg_total,
                                                             double2 *leaf) {
  const float w = a.weight ? a.weight[b] : 1.0f;
  const float pw = a.pos_weight ? a.pos_weight[a.pos_weight_count == 1 ? 0 : b] : 1.0f;
  const int64_t n = a.counts ? a.counts[b] : a.K;
  const bool none = rc.reduction == SEMCL_ROW_NONE;
  const float raw = semcl_cuda_load<DT>(a.score_raw, b), y = a.y[b];
  float *loss = none ? a.loss + b : NULL, *loss_ctr = none ? a.loss_ctr + b : NULL;
  float *loss_aux = none ? a.loss_aux + b : NULL;
  double ctr, aux;
  if (a.grad_raw || a.grad_pos) {
    float graw = 0.0f, gpos = 0.0f;
    semcl_pos_neg_finish_row(&rc, b, raw, y, w, pw, n, sp_total, sg_total, loss, loss_ctr, loss_aux,
                             a.grad_raw ? &graw : NULL, a.grad_pos ? &gpos : NULL, &ctr, &aux);
    if (a.grad_raw) semcl_cuda_store<DT>(a.grad_raw, b, graw);
    if (a.grad_pos) semcl_cuda_store<DT>(a.grad_pos, b, gpos);
  } else { /* literal NULLs: the BCE derivative and every gradient term compile away */
    semcl_pos_neg_finish_row(&rc, b, raw, y, w, pw, n, sp_total, sg_total, loss, loss_ctr, loss_aux,
                             NULL, NULL, &ctr, &aux);
  }
  *leaf = make_double2(ctr, aux);
}

/* ---- host side: the variants --------------------------------------------------------- */

/* Which masks a call has (SEMCL_MASK_*). */
static inline int semcl_cuda_mask_kind(const semcl_pos_neg_args &a) {
  return (a.neg_count ? SEMCL_MASK_COUNT : 0) | (a.neg_mask ? SEMCL_MASK_BYTES : 0);
}

/* Calls L<DT, MASK, BWD>::run(ctx, a, stream) for the call's variant. */
template <template <int, int, bool> class L, int DT, int MASK>
static semcl_status_t semcl_cuda_by_bwd(bool bwd, semcl_context *ctx, const semcl_pos_neg_args &a,
                                        cudaStream_t stream) {
  return bwd ? L<DT, MASK, true>::run(ctx, a, stream) : L<DT, MASK, false>::run(ctx, a, stream);
}

template <template <int, int, bool> class L, int DT>
static semcl_status_t semcl_cuda_by_mask(int mask, bool bwd, semcl_context *ctx,
                                         const semcl_pos_neg_args &a, cudaStream_t stream) {
  switch (mask) {
    case SEMCL_MASK_NONE:
      return semcl_cuda_by_bwd<L, DT, SEMCL_MASK_NONE>(bwd, ctx, a, stream);
    case SEMCL_MASK_COUNT:
      return semcl_cuda_by_bwd<L, DT, SEMCL_MASK_COUNT>(bwd, ctx, a, stream);
    case SEMCL_MASK_BYTES:
      return semcl_cuda_by_bwd<L, DT, SEMCL_MASK_BYTES>(bwd, ctx, a, stream);
    default:
      return semcl_cuda_by_bwd<L, DT, SEMCL_MASK_BOTH>(bwd, ctx, a, stream);
  }
}

template <template <int, int, bool> class L>
static semcl_status_t semcl_cuda_by_variant(int dtype, bool bwd, semcl_context *ctx,
                                            const semcl_pos_neg_args &a, cudaStream_t stream) {
  const int mask = semcl_cuda_mask_kind(a);
  switch (dtype) {
    case SEMCL_DT_F32:
      return semcl_cuda_by_mask<L, SEMCL_DT_F32>(mask, bwd, ctx, a, stream);
    case SEMCL_DT_BF16:
      return semcl_cuda_by_mask<L, SEMCL_DT_BF16>(mask, bwd, ctx, a, stream);
    default:
      return semcl_cuda_by_mask<L, SEMCL_DT_F16>(mask, bwd, ctx, a, stream);
  }
}

/* ---- the pairwise loss's stages (one file each; extern "C": they cross files) ------------ */
extern "C" {
/* Masked calls: counts[b] and N (real_pairs) from neg_count / neg_mask. */
semcl_status_t semcl_cuda_pos_neg_counts(semcl_context *ctx, const semcl_pos_neg_args *a,
                                         cudaStream_t stream);
/* K <= 1024: every row's negatives and epilogue, row-tile values into a->tiles. */
semcl_status_t semcl_cuda_pos_neg_rows(semcl_context *ctx, const semcl_pos_neg_args *a, int dtype,
                                       int bwd, cudaStream_t stream);
/* K > 1024: chunk-group values into a->groups, and the gradients. */
semcl_status_t semcl_cuda_pos_neg_chunks(semcl_context *ctx, const semcl_pos_neg_args *a, int dtype,
                                         int bwd, cudaStream_t stream);
/* K > 1024: row epilogues from the rows' remaining values (B, n_values), n_values <= 256,
 * and the row-tile values into a->tiles. */
semcl_status_t semcl_cuda_pos_neg_split_rows(semcl_context *ctx, const semcl_pos_neg_args *a,
                                             int dtype, const double2 *values, int64_t n_values,
                                             cudaStream_t stream);
}

#endif /* SEMCL_CUDA_POS_NEG_DEVICE_CUH */
