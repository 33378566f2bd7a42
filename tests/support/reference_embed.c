/* reference_embed.c — fp64 reference of the embedding calls (see reference_embed.h).
 * Deliberately plain: fp64 scores from the embeddings, then the loss definitions as loops; no
 * code shared with the library. The bounds are the formulas of docs/embeddings.md. */
#include "reference_embed.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define U 0x1p-24 /* fp32 unit roundoff */

int semcl_ref_embed_real(const semcl_ref_embed_args *a, int64_t b, int64_t k) {
  if (a->kind == SEMCL_REF_POSITIVE_ONLY) return 0;
  const semcl_ref_options *o = &a->options;
  if (o->neg_count) {
    int64_t n = o->neg_count[b];
    n = n < 0 ? 0 : (n > a->K ? a->K : n);
    if (k >= n) return 0;
  }
  if (o->neg_mask && o->neg_mask[b * a->K + k] == 0) return 0;
  if (a->kind == SEMCL_REF_SHARED && a->pos_index && a->pos_index[b] == k) return 0;
  return 1;
}

static const float *neg_vec(const semcl_ref_embed_args *a, int64_t b, int64_t k) {
  return a->kind == SEMCL_REF_PER_ROW ? a->neg + (b * a->K + k) * a->D : a->neg + k * a->D;
}

/* u.v in fp64 and sum |u_d v_d|. */
static double dot(const float *u, const float *v, int64_t D, double *mag) {
  double s = 0, m = 0;
  for (int64_t d = 0; d < D; ++d) {
    s += (double)u[d] * (double)v[d];
    m += fabs((double)u[d] * (double)v[d]);
  }
  *mag = m;
  return s;
}

static void zero(double *v, int64_t n) {
  if (v) memset(v, 0, (size_t)n * sizeof(double));
}

void semcl_ref_embed(const semcl_ref_embed_args *a, const semcl_ref_embed_out *o,
                     const semcl_ref_embed_bounds *eb) {
  static const semcl_ref_embed_bounds no_bounds = {0x1p-24, 0, 0, 0, 0, 0, 0, 0};
  if (!eb) eb = &no_bounds;
  const int64_t B = a->B, K = a->K, D = a->D;
  const int pairwise = a->kind != SEMCL_REF_POSITIVE_ONLY;
  const int shared = a->kind == SEMCL_REF_SHARED;
  const int none = a->reduction == SEMCL_REDUCTION_NONE, mean = a->reduction == SEMCL_REDUCTION_MEAN;
  const int64_t negs = a->kind == SEMCL_REF_PER_ROW ? B * K : K;
  const double as = fabs(a->scale);
  const double kc = (double)(K < 1024 ? K : 1024); /* negatives per canonical chunk */
  /* Score errors: the canonical dot product (ceil(D/32) fmaf steps per lane, 5 fold adds, the
   * scale multiply) and, for the shared pool's negative scores, a GEMM in any order. */
  const double dot_terms = (double)((D + 31) / 32) + 6.0;
  const double gemm_dot = (double)D + 2.0 + 2.0 * eb->gemm_unit / U;
  zero(o->grad_neg, negs * D);
  zero(o->grad_user, B * D);
  zero(eb->grad_neg, negs * D);
  zero(eb->grad_user, B * D);

  double total_real = 0;
  if (pairwise)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < K; ++k) total_real += semcl_ref_embed_real(a, b, k);

  double ctr_sum = 0, aux_sum = 0, ctr_err_sum = 0, aux_err_sum = 0;
  double *sig = (double *)malloc((size_t)(pairwise ? K : 1) * sizeof(double));
  double *dh = (double *)malloc((size_t)(pairwise ? K : 1) * sizeof(double));
  /* Shared pool: sum_b |h_bn| |u_bd| for the GEMM term of dN's bound. */
  double *pool_mag = shared && eb->grad_neg ? (double *)calloc((size_t)(K * D), sizeof(double)) : NULL;
  for (int64_t b = 0; b < B; ++b) {
    const float *u = a->user + b * D, *r = a->item_raw + b * D, *p = a->item_pos + b * D;
    double raw_mag, pos_mag;
    const double raw = a->scale * dot(u, r, D, &raw_mag);
    const double pos = a->scale * dot(u, p, D, &pos_mag);
    const double e_raw = dot_terms * U * as * raw_mag, e_pos = dot_terms * U * as * pos_mag;
    const double y = a->y[b];
    const double sign = 2.0 * y - 1.0;
    const double w = a->options.weight ? a->options.weight[b] : 1.0;
    const double pw = a->options.pos_weight
                          ? a->options.pos_weight[a->options.pos_weight_count == 1 ? 0 : b]
                          : 1.0;
    const double g = a->grad_scale * (a->upstream ? a->upstream[none ? b : 0] : 1.0);
    const double ctr = w * semcl_ref_bce_pw(raw, y, pw);
    const double ctr_err = fabs(w) * ((1.0 + fabs(pw)) * e_raw + 8.0 * U * semcl_ref_bce_pw(raw, y, pw));
    const double ctr_scale = g * w / (mean ? (double)B : 1.0);
    const double dbce = semcl_ref_dbce_pw(raw, y, pw);
    double aux, aux_mean_term, aux_err, graw, gpos, dhr, dhp;
    if (!pairwise) {
      const double t = -sign * (pos - raw);
      const double s = semcl_ref_sigmoid(t);
      aux = w * semcl_ref_softplus(t);
      aux_mean_term = aux;
      aux_err = fabs(w) * (e_raw + e_pos + 8.0 * U * semcl_ref_softplus(t));
      graw = ctr_scale * (dbce + a->lambda * sign * s);
      gpos = -ctr_scale * a->lambda * sign * s;
      dhr = as * fabs(ctr_scale) *
            ((1.0 + fabs(pw)) * 0.25 * e_raw + fabs(a->lambda) * 0.25 * (e_raw + e_pos) +
             8.0 * U * (fabs(dbce) + fabs(a->lambda) * s));
      dhp = as * fabs(ctr_scale) * fabs(a->lambda) * (0.25 * (e_raw + e_pos) + 8.0 * U * s);
    } else {
      double n = 0, sp_sum = 0, s_sum = 0, sp_err = 0;
      for (int64_t k = 0; k < K; ++k) {
        sig[k] = 0;
        dh[k] = 0;
        if (!semcl_ref_embed_real(a, b, k)) continue;
        double mag;
        const double s = a->scale * dot(u, neg_vec(a, b, k), D, &mag);
        const double e_k = (shared ? gemm_dot : dot_terms) * U * as * mag;
        const double t = -sign * (pos - s);
        const double sp = semcl_ref_softplus(t);
        sp_sum += sp;
        sp_err += e_k + e_pos + 8.0 * U * sp;
        sig[k] = semcl_ref_sigmoid(t);
        dh[k] = 0.25 * (e_k + e_pos) + 8.0 * U * sig[k]; /* times |c scale| below */
        s_sum += sig[k];
        n += 1;
      }
      sp_err += (kc / 32.0 + 8.0) * U * sp_sum; /* the chunk's 32 lanes */
      aux = n > 0 ? w * sp_sum / n : 0.0;
      aux_mean_term = n > 0 ? w * sp_sum : 0.0;
      aux_err = n > 0 ? fabs(w) * sp_err / (mean ? 1.0 : n) : 0.0;
      const double den = mean ? total_real : n;
      const double coef = den > 0 ? g * w * a->lambda * sign / den : 0.0; /* dL/ds_k = coef sig_k */
      const double hc = fabs(coef) * as;
      graw = ctr_scale * dbce;
      gpos = -coef * s_sum;
      dhr = as * fabs(ctr_scale) * ((1.0 + fabs(pw)) * 0.25 * e_raw + 8.0 * U * fabs(dbce));
      dhp = 0;
      for (int64_t k = 0; k < K; ++k) dhp += hc * dh[k];
      dhp += hc * (kc / 32.0 + 8.0) * U * s_sum;
      /* Negatives: dL/dn_k = h_k u, dL/du += h_k n_k, h_k = coef sig_k scale. */
      for (int64_t k = 0; k < K; ++k) {
        if (!semcl_ref_embed_real(a, b, k)) continue;
        const double h = coef * sig[k] * a->scale, e_h = hc * dh[k];
        const float *nk = neg_vec(a, b, k);
        const int64_t row = a->kind == SEMCL_REF_PER_ROW ? b * K + k : k;
        for (int64_t d = 0; d < D; ++d) {
          const double ud = fabs((double)u[d]), nd = fabs((double)nk[d]);
          if (o->grad_neg) o->grad_neg[row * D + d] += h * u[d];
          if (o->grad_user) o->grad_user[b * D + d] += h * nk[d];
          if (eb->grad_neg) eb->grad_neg[row * D + d] += e_h * ud + (shared ? 0.0 : U * fabs(h) * ud);
          if (pool_mag) pool_mag[k * D + d] += fabs(h) * ud;
          if (eb->grad_user)
            eb->grad_user[b * D + d] +=
                e_h * nd + (shared ? (double)K + 4.0 + 2.0 * eb->gemm_unit / U : kc + 4.0) * U * fabs(h) * nd;
        }
      }
    }
    const double hr = graw * a->scale, hp = gpos * a->scale;
    dhr += 2.0 * U * fabs(hr); /* the fp32 score gradient, then the scale multiply */
    dhp += 2.0 * U * fabs(hp);
    for (int64_t d = 0; d < D; ++d) {
      const double ud = fabs((double)u[d]);
      if (o->grad_raw) o->grad_raw[b * D + d] = hr * u[d];
      if (o->grad_pos) o->grad_pos[b * D + d] = hp * u[d];
      if (o->grad_user) o->grad_user[b * D + d] += hr * r[d] + hp * p[d];
      if (eb->grad_raw) eb->grad_raw[b * D + d] = dhr * ud + U * fabs(hr) * ud;
      if (eb->grad_pos) eb->grad_pos[b * D + d] = dhp * ud + U * fabs(hp) * ud;
      if (eb->grad_user)
        eb->grad_user[b * D + d] += dhr * fabs((double)r[d]) + dhp * fabs((double)p[d]) +
                                    4.0 * U * (fabs(hr * r[d]) + fabs(hp * p[d]));
    }
    if (none) {
      o->loss_ctr[b] = ctr;
      o->loss_aux[b] = aux;
      o->loss[b] = ctr + a->lambda * aux;
      if (eb->loss_ctr) eb->loss_ctr[b] = ctr_err + U * fabs(ctr);
      if (eb->loss_aux) eb->loss_aux[b] = aux_err + U * fabs(aux);
      if (eb->loss)
        eb->loss[b] = ctr_err + fabs(a->lambda) * aux_err + U * fabs(ctr + a->lambda * aux);
    } else {
      ctr_sum += ctr;
      aux_sum += mean && pairwise ? aux_mean_term : aux;
      ctr_err_sum += ctr_err;
      aux_err_sum += aux_err;
    }
  }
  if (pool_mag) {
    for (int64_t i = 0; i < K * D; ++i)
      eb->grad_neg[i] += ((double)B + 2.0 + 2.0 * eb->gemm_unit / U) * U * pool_mag[i];
    free(pool_mag);
  }
  free(sig);
  free(dh);
  if (!none) {
    double c = ctr_sum, x = aux_sum, ce = ctr_err_sum, xe = aux_err_sum;
    if (mean) {
      c /= (double)B;
      ce /= (double)B;
      const double den = pairwise ? total_real : (double)B;
      x = den > 0 ? x / den : 0.0;
      xe = den > 0 ? xe / den : 0.0;
    }
    o->loss_ctr[0] = c;
    o->loss_aux[0] = x;
    o->loss[0] = c + a->lambda * x;
    if (eb->loss_ctr) eb->loss_ctr[0] = ce + U * fabs(c);
    if (eb->loss_aux) eb->loss_aux[0] = xe + U * fabs(x);
    if (eb->loss) eb->loss[0] = ce + fabs(a->lambda) * xe + U * fabs(c + a->lambda * x);
  }
}
