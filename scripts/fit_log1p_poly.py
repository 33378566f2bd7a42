import numpy as np
from numpy.polynomial import chebyshev as C
# fit f(e) = log1p(e)/e on [0,1]; log1p(e) = e*P(e)
for deg in (8,9,10):
    N=4000
    x = (1-np.cos(np.pi*(np.arange(N)+0.5)/N))/2
    f = np.log1p(x)/x
    # relative error weighting: minimize (P-f)/f
    w = 1/f
    V = np.vander(x, deg+1, increasing=True)
    for it in range(30):
        c,*_ = np.linalg.lstsq(V*w[:,None], f*w, rcond=None)
        err = (V@c - f)/f
        w = w*(1+ 20*np.abs(err)/np.abs(err).max())  # crude IRLS toward minimax
    cf = c.astype(np.float32)
    xs = np.linspace(0,1,200001)[1:]
    # float32 Horner
    xf = xs.astype(np.float32)
    p = np.float32(cf[-1])*np.ones_like(xf)
    for k in range(deg-1,-1,-1):
        p = (p*xf + cf[k]).astype(np.float32)
    r = (p*xf).astype(np.float32)
    rel = np.abs(r.astype(np.float64) - np.log1p(xf.astype(np.float64)))/np.log1p(xf.astype(np.float64))
    print(deg, np.abs(err).max(), rel.max(), rel.max()/2**-24, [repr(float(v)) for v in cf])
