/*
 * embed_stage_cuda.cu — 16-bit embeddings on CUDA (src/semcl_embed_stage.h): the entry points
 * of the embedding calls. An fp32 call goes straight to the fp32 machinery; a bf16 or fp16 call
 * widens the (B,D) arrays (and the shared pool) into fp32 copies at the end of the workspace,
 * runs the fp32 machinery on them (per-row negatives stay in the dtype: the chunk kernel reads
 * and writes them directly), then rounds the fp32 gradients into the caller's buffers. All on
 * the context's stream, in that order.
 */
#include "embed_device.cuh"

extern "C" {
#include "semcl_embed_stage.h"
}

/* copy: widen (16-bit -> fp32) or narrow (fp32 -> 16-bit) count elements; DT as semcl_dtype_t. */
template <int DT>
__global__ void __launch_bounds__(SEMCL_EMBED_BLOCK)
    embed_convert_kernel(const void *from, void *to, int64_t count, int widen) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count;
       i += (int64_t)gridDim.x * blockDim.x) {
    if (widen)
      ((float *)to)[i] = semcl_embed_load<DT>(from, i);
    else
      semcl_embed_store<DT>(to, i, ((const float *)from)[i]);
  }
}

static semcl_status_t convert(semcl_context *ctx, const semcl_embed_copy *copies, int count,
                              semcl_dtype_t dtype, int widen, cudaStream_t stream) {
  semcl_status_t st = SEMCL_STATUS_SUCCESS;
  for (int c = 0; c < count && st == SEMCL_STATUS_SUCCESS; ++c) {
    const int64_t grid = semcl_embed_grid((copies[c].count + SEMCL_EMBED_BLOCK - 1) /
                                          SEMCL_EMBED_BLOCK);
    const char *what = widen ? "launching the widening of 16-bit embeddings"
                             : "launching the rounding of gradients to 16 bits";
    if (dtype == SEMCL_DTYPE_BFLOAT16)
      st = SEMCL_CUDA_LAUNCH(ctx, what, embed_convert_kernel<1>, grid, SEMCL_EMBED_BLOCK, stream,
                             copies[c].from, copies[c].to, copies[c].count, widen);
    else
      st = SEMCL_CUDA_LAUNCH(ctx, what, embed_convert_kernel<2>, grid, SEMCL_EMBED_BLOCK, stream,
                             copies[c].from, copies[c].to, copies[c].count, widen);
  }
  return st;
}

extern "C" size_t semcl_cuda_embed_workspace(int kind, int64_t B, int64_t K, int64_t D,
                                             int staged) {
  return semcl_round16(semcl_cuda_embed_workspace_fp32(kind, B, K, D)) +
         semcl_embed_stage_layout(kind, B, K, D, staged).bytes;
}

extern "C" semcl_status_t semcl_cuda_embed_launch(semcl_context *ctx, const semcl_embed_problem *p,
                                                  void *workspace, cudaStream_t stream) {
  if (!semcl_embed_staged(p->dtype))
    return semcl_cuda_embed_launch_fp32(ctx, p, workspace, stream);
  const size_t fp32_bytes =
      semcl_round16(semcl_cuda_embed_workspace_fp32(p->kind, p->B, p->K, p->D));
  const semcl_embed_stage l = semcl_embed_stage_layout(p->kind, p->B, p->K, p->D, 1);
  semcl_embed_problem q;
  semcl_embed_staged_problem(p, (char *)workspace + fp32_bytes, &l, &q);
  semcl_embed_copy copies[4];
  semcl_status_t st =
      convert(ctx, copies, semcl_embed_widen_list(p, &q, copies), p->dtype, 1, stream);
  if (st == SEMCL_STATUS_SUCCESS) st = semcl_cuda_embed_launch_fp32(ctx, &q, workspace, stream);
  if (st == SEMCL_STATUS_SUCCESS)
    st = convert(ctx, copies, semcl_embed_narrow_list(p, &q, copies), p->dtype, 0, stream);
  return st;
}
