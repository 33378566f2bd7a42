/* reduction_cpu.c — the fixed-order second stage over row blocks (both losses). */
#include "../semcl_order.h"
#include "cpu_kernels.h"

void semcl_cpu_finish_reduction(const semcl_problem *p, const double *block_ctr,
                                const double *block_aux, int64_t blocks) {
  if (p->reduction == SEMCL_REDUCTION_NONE) return; /* per-sample losses already written */
  double ctr_sum = 0.0, aux_sum = 0.0;
  for (int64_t blk = 0; blk < blocks; ++blk) {
    ctr_sum += block_ctr[blk];
    aux_sum += block_aux[blk];
  }
  semcl_reduced_losses(ctr_sum, aux_sum, p->lambda, p->reduction == SEMCL_REDUCTION_MEAN, p->B,
                       p->loss, p->loss_ctr, p->loss_aux);
}
