"""Backward of the embedding losses, shared by the autograd.Function (PyTorch 1.13) and the
custom op (PyTorch 2) implementations.

The forward library call computed G = dL/dx (upstream 1) for every embedding x that requires
grad. With only loss receiving a gradient g, backward returns g * G (per row for 'none': row
b's loss depends only on row b's embeddings, and on its own negatives item_neg[b]) with no
further library call and no host synchronisation. Two cases need the library again, through
`compute(lam, upstream)` (a call on the saved inputs with that lambda and upstream gradient,
returning the four embedding gradients):
  - a shared pool with reduction 'none': every row's loss depends on every pool entry, so the
    pool's gradient is sum_b g_b dL_b/dN, which the saved G (g = 1) cannot give: one call with
    upstream g;
  - loss_ctr or loss_aux also receiving gradients:
        d/dx = c_ctr dL_ctr/dx + c_aux dL_aux/dx,  c_ctr = g_L + g_ctr, c_aux = lambda g_L + g_aux,
    computed as compute(0, c_ctr) + (compute(1, c_aux) - compute(0, c_aux)) (the bracket is
    c_aux dL_aux/dx; exact for the gradients L_ctr does not touch, within rounding of the
    L_ctr part for the others)."""
from ._backward import _add, _sub

SHARED = 2  # _embed_launch.SHARED (not imported: this module needs no ctypes)


def _scaled(g, G, rows, in_place):
    """g * G, g being 0-d (mean/sum) or per row (B,) ('none'). in_place: G may be overwritten
    (it is the caller's own buffer, used once); a CPU upstream of exactly 1 is then free."""
    if G is None:
        return None
    if in_place and g.dim() == 0 and g.device.type == "cpu" and float(g) == 1.0:
        return G
    if rows:
        g = g.reshape((-1,) + (1,) * (G.dim() - 1))
    return G.mul_(g) if in_place else g * G


def grads(compute, kind, lam, reduction, saved, g_loss, g_ctr, g_aux, in_place=False):
    """The four embedding gradients (None where not needed). saved: (G_user, G_raw, G_pos,
    G_neg) from the forward call (None where not needed), or None when they are no longer
    available (then the library computes the gradients again). in_place: the saved G may be
    scaled in place and returned (a once-only backward that owns them)."""
    rows = reduction == "none"
    if g_ctr is None and g_aux is None:
        if g_loss is None:
            return (None,) * 4
        if saved is not None and not (rows and kind == SHARED):
            return tuple(_scaled(g_loss, G, rows, in_place) for G in saved)
        return compute(lam, g_loss)
    c_ctr = _add(g_loss, g_ctr)
    c_aux = _add(None if g_loss is None else g_loss * lam, g_aux)
    out = compute(0.0, c_ctr) if c_ctr is not None else (None,) * 4
    if c_aux is not None:
        both, ctr_only = compute(1.0, c_aux), compute(0.0, c_aux)
        out = tuple(_add(o, _sub(b, c)) for o, b, c in zip(out, both, ctr_only))
    return out
