/* reduction_cpu.c — what both CPU drivers share: the call's row constants and the last stage,
 * T over the tasks' partial sums (semcl_fold.h) into the reduced losses. */
#include "../semcl_fold.h"
#include "cpu_kernels.h"

semcl_row_consts semcl_cpu_row_consts(const semcl_problem *p, double N) {
  semcl_row_consts rc;
  rc.lambda = p->lambda;
  rc.grad_scale = p->grad_scale;
  rc.grad_upstream = p->grad_upstream;
  rc.reduction = (int)p->reduction;
  rc.B = p->B;
  rc.N = N;
  return rc;
}

void semcl_cpu_finish_reduction(const semcl_problem *p, const semcl_row_consts *rc,
                                double *task_ctr, double *task_aux, int64_t tasks,
                                double aux_denominator) {
  if (p->reduction == SEMCL_REDUCTION_NONE) return; /* per-sample losses already written */
  const double ctr = semcl_tree_sum_inplace(task_ctr, tasks);
  const double aux = semcl_tree_sum_inplace(task_aux, tasks);
  semcl_reduced_losses(rc, ctr, aux, aux_denominator, p->loss, p->loss_ctr, p->loss_aux);
}
