/*
 * pos_neg_cuda.cu — loss 2 (label-conditioned pairwise ranking) on CUDA: workspace layout and
 * the launch sequence. The kernels are in pos_neg_rows_cuda.cu (K <= 1024),
 * pos_neg_split_cuda.cu (K > 1024), pos_neg_counts_cuda.cu (masks) and reduction_cuda.cu (T
 * over row tiles); the per-row and per-element code they share in pos_neg_device.cuh.
 *
 * One pass over score_neg: each score is read once and (backward) its gradient written once,
 * in place when grad_neg == score_neg. No B x K temporary, no float atomics. Every result is
 * bitwise identical to src/cpu/pos_neg_cpu.c because both follow src/semcl_fold.h (lanes, fold,
 * tree T) and src/semcl_row.h (row epilogue), through the same SEMCL_FN functions.
 *
 * Launch sequence (every stage parallel; all enqueued on the context's stream):
 *   masked:    memset(N[, counts]); semcl_pos_neg_count_kernel
 *   K <= 1024: semcl_pos_neg_rows_kernel
 *   K > 1024:  semcl_pos_neg_chunks_kernel; semcl_tree_level_kernel while a row has more than
 *              256 chunk groups (K > 2M); semcl_pos_neg_split_rows_kernel
 *   MEAN/SUM:  semcl_tree_level_kernel while there are more than 256 row tiles;
 *              semcl_finish_reduction_kernel
 */
#include "pos_neg_device.cuh"

/* Lanes per row for K <= 1024: 2^log2 >= min(K, 32). */
static int log2_group(int64_t K) {
  int g = 0;
  while (g < 5 && ((int64_t)1 << g) < K) ++g;
  return g;
}

/* Rows per tile R: a power of two, large enough for the launch shape (a pass of 32/G rows per
 * warp in the row kernel; one row per warp elsewhere) and, on large batches, small enough to
 * give at least 1024 tiles so that every SM gets blocks. Depends on (B, K) only, so the
 * workspace query knows it. Any R gives the same bits (tiles are nodes of T). */
static int tile_rows(int64_t B, int64_t K) {
  const int min_rows = K <= SEMCL_CUDA_ROW_KERNEL_MAX_K
                           ? (SEMCL_CUDA_THREADS >> log2_group(K)) /* 8 warps x 32/G rows */
                           : SEMCL_CUDA_WARPS;
  int64_t r = 1;
  while (r < SEMCL_CUDA_THREADS && r * 2 * 1024 <= B) r *= 2;
  return (int)(r < min_rows ? min_rows : r);
}

static int64_t chunk_groups(int64_t K) {
  return semcl_cuda_div_up(semcl_cuda_div_up(K, SEMCL_CHUNK), SEMCL_CUDA_CHUNK_GROUP);
}

/*
 * Workspace (bytes from the start; every segment starts on a 16-byte boundary). Sized for every
 * option, since semcl_get_workspace_size does not know the options:
 *   real_pairs   16                          N of a masked call (one unsigned 64-bit integer)
 *   counts       B int64                     real negatives per row (masked calls)
 *   tiles        ceil(B/R) double2           (ctr, aux) T of each row tile (MEAN/SUM)
 *   tile_spare   ceil(tiles/256) double2     the next level of the tree over tiles
 *   groups       B x G double2 (K > 1024)    (softplus, sigmoid) T of each row's chunk groups,
 *                                            G = ceil(ceil(K/1024)/8)
 *   group_spare  B x ceil(G/256) double2     the next level when G > 256 (K > 2M)
 */
typedef struct pos_neg_layout {
  size_t real_pairs, counts, tiles, tile_spare, groups, group_spare, total;
  int64_t n_tiles, n_groups;
} pos_neg_layout;

static pos_neg_layout make_layout(int64_t B, int64_t K) {
  pos_neg_layout l;
  l.n_tiles = semcl_cuda_div_up(B, tile_rows(B, K));
  l.n_groups = K > SEMCL_CUDA_ROW_KERNEL_MAX_K ? chunk_groups(K) : 0;
  l.real_pairs = 0;
  l.counts = l.real_pairs + 16;
  l.tiles = l.counts + semcl_round16((size_t)B * sizeof(int64_t));
  l.tile_spare = l.tiles + semcl_round16((size_t)l.n_tiles * sizeof(double2));
  l.groups = l.tiles + semcl_cuda_tile_tree_bytes(l.n_tiles);
  l.group_spare = l.groups + semcl_round16((size_t)(B * l.n_groups) * sizeof(double2));
  l.total = l.group_spare;
  if (l.n_groups > SEMCL_CUDA_TREE_FANIN)
    l.total += semcl_round16(
        (size_t)(B * semcl_cuda_div_up(l.n_groups, SEMCL_CUDA_TREE_FANIN)) * sizeof(double2));
  return l;
}

extern "C" size_t semcl_cuda_pos_neg_workspace(int64_t B, int64_t K) {
  return make_layout(B, K).total;
}

extern "C" semcl_status_t semcl_cuda_pos_neg_launch(semcl_context *ctx, const semcl_problem *p,
                                                    void *workspace, cudaStream_t stream) {
  const pos_neg_layout l = make_layout(p->B, p->K);
  char *ws = (char *)workspace;
  const bool masked = semcl_problem_masked(p) != 0;
  const bool none = p->reduction == SEMCL_REDUCTION_NONE;
  /* The sigmoid sums and grad_neg are only needed for grad_pos / grad_neg; grad_raw alone
   * needs only the row epilogue. */
  const int bwd = p->grad_pos != NULL || p->grad_neg != NULL;

  semcl_pos_neg_args a;
  memset(&a, 0, sizeof a);
  a.rc.lambda = p->lambda;
  a.rc.grad_scale = p->grad_scale;
  a.rc.grad_upstream = p->grad_upstream;
  a.rc.reduction = (int)p->reduction;
  a.rc.B = p->B;
  a.rc.N = (double)p->B * (double)p->K; /* as the CPU driver; masked: from real_pairs */
  a.B = p->B;
  a.K = p->K;
  a.score_raw = p->score_raw;
  a.score_pos = p->score_pos;
  a.score_neg = p->score_neg;
  a.y = p->y;
  a.neg_mask = p->neg_mask;
  a.neg_count = p->neg_count;
  a.weight = p->weight;
  a.pos_weight = p->pos_weight;
  a.pos_weight_count = p->pos_weight_count;
  a.loss = p->loss;
  a.loss_ctr = p->loss_ctr;
  a.loss_aux = p->loss_aux;
  a.grad_raw = p->grad_raw;
  a.grad_pos = p->grad_pos;
  a.grad_neg = p->grad_neg;
  a.counts = masked ? (int64_t *)(ws + l.counts) : NULL;
  a.real_pairs = masked ? (unsigned long long *)(ws + l.real_pairs) : NULL;
  a.tiles = none ? NULL : (double2 *)(ws + l.tiles);
  a.groups = l.n_groups ? (double2 *)(ws + l.groups) : NULL;
  a.tile_rows = tile_rows(p->B, p->K);
  a.log2_group = log2_group(p->K);

  semcl_status_t st = SEMCL_STATUS_SUCCESS;
  if (masked) st = semcl_cuda_pos_neg_counts(ctx, &a, stream);
  if (st != SEMCL_STATUS_SUCCESS) return st;
  if (p->K <= SEMCL_CUDA_ROW_KERNEL_MAX_K) {
    st = semcl_cuda_pos_neg_rows(ctx, &a, (int)p->dtype, bwd, stream);
  } else {
    st = semcl_cuda_pos_neg_chunks(ctx, &a, (int)p->dtype, bwd, stream);
    double2 *values = NULL;
    int64_t n_values = 0;
    if (st == SEMCL_STATUS_SUCCESS)
      st = semcl_cuda_tree_levels(ctx, a.groups, (double2 *)(ws + l.group_spare), p->B, l.n_groups,
                                  &values, &n_values, stream);
    if (st == SEMCL_STATUS_SUCCESS)
      st = semcl_cuda_pos_neg_split_rows(ctx, &a, (int)p->dtype, values, n_values, stream);
  }
  if (st != SEMCL_STATUS_SUCCESS || none) return st;
  return semcl_cuda_finish_reduction(ctx, p, &a.rc, a.tiles, (double2 *)(ws + l.tile_spare),
                                     l.n_tiles, a.rc.N, a.real_pairs, stream);
}
