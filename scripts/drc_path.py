"""Research tool (not part of the package): R drc's drm() fitting path for LL.4 / L.4, in Python.

Purpose: to test whether SynergyFinder's published ZIP means come from the local minima that
drc's optimiser reaches (issue 7). It reproduces drc 3.2-0's LL.4 fits of the 13 reference curves
in ../shared/reference-data/dose-response/drc_reference_fits.csv to <= 1e-9 relative
(tests/test_scripts_drc_path.py), i.e. it follows drc's iterations, not only its optimum.

Python emulation of the fitting path of R drc 3.0-x drm() for LL.4 / L.4
(least squares, self-starter method "1", optim BFGS with numerical gradient,
parscale, hessian), plus the R-condition semantics that matter to
SynergyFinder's tryCatch(warning=, error=).

Written from reading the drc sources (drm.R, drmOpt.R, drmc.R, drmEMls.R,
llogistic.R, llogistic.ssf.R, logistic.R, findbe helpers) and from R's
src/appl/optim.c (vmmin, fmingr, optimhess) as remembered.
"""

import math

import numpy as np


class RWarning(Exception):
    """An R warning that reaches an enclosing tryCatch(warning = ...)."""


class RError(Exception):
    """An R error (stop())."""


# ----------------------------------------------------------------- helpers
def rsum(v):
    # R's sum() accumulates in long double
    s = np.longdouble(0.0)
    for x in v:
        s += np.longdouble(x)
    return float(s)


def r_median(v):
    v = sorted(v)
    n = len(v)
    if n % 2:
        return v[n // 2]
    return (v[n // 2 - 1] + v[n // 2]) / 2.0


def r_log10_checked(x):
    if x < 0:
        raise RWarning("NaNs produced (log10 of negative median)")
    if x == 0:
        return -math.inf
    return math.log10(x)


def lm_coef(x, y):
    """lm(y ~ x) coefficients (intercept, slope); NA rows dropped."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    X = np.column_stack([np.ones_like(x), x])
    q, r = np.linalg.qr(X)
    coef = np.linalg.solve(r, q.T @ y)
    return float(coef[0]), float(coef[1])


def findcd(y):
    lo, hi = min(y), max(y)
    inc = 0.001 * (hi - lo)
    return lo - inc, hi + inc


# -------------------------------------------------------------- models
def _logistic_value(z, c, d, f):
    """c + (d - c) / (1 + exp(z))^f as R evaluates it (exp overflow gives Inf, NaN stays NaN)."""
    if math.isnan(z):
        return math.nan
    try:
        ez = math.exp(z)
    except OverflowError:
        ez = math.inf
    return c + (d - c) / ((1.0 + ez) ** f)


class LLogistic:
    """drc llogistic (LL.4 with f = 1), fixed = length-4 list (None = free)."""

    name = "LL.4"

    def __init__(self, fixed):
        self.fixed = [*list(fixed), 1.0]
        self.notfixed = [f is None for f in self.fixed]

    def full(self, parm, ds=1.0, rs=1.0):
        scale = [1.0, rs, rs, ds, 1.0]
        pv = [0.0 if f is None else f / s for f, s in zip(self.fixed, scale, strict=False)]
        it = iter(parm)
        return [next(it) if nf else v for nf, v in zip(self.notfixed, pv, strict=False)]

    def f(self, dose, parm, ds=1.0, rs=1.0, strict=True):
        b, c, d, e, f = self.full(parm, ds, rs)
        out = []
        for x in dose:
            q = x / e if e != 0 else (math.inf if x > 0 else math.nan)
            if q < 0:
                if strict:
                    raise RWarning("NaNs produced (log of negative dose/e)")
                out.append(math.nan)
                continue
            if math.isnan(q):
                out.append(math.nan)
                continue
            lg = math.log(q) if q > 0 else -math.inf
            out.append(_logistic_value(b * lg, c, d, f))
        return out

    def ssf(self, x, y):
        cv, dv = findcd(y)
        lx = [math.log(v) if (v > 0 and math.isfinite(v)) else math.nan for v in x]
        yt = [math.log((dv - v) / (v - cv)) for v in y]
        a0, a1 = lm_coef(lx, yt)
        b = a1
        e = math.exp(-a0 / b)
        full = [b, cv, dv, e, 1.0]
        return [v for v, nf in zip(full, self.notfixed, strict=False) if nf]

    def scale_vec(self, ds, rs):
        s = [1.0, rs, rs, ds, 1.0]
        return [v for v, nf in zip(s, self.notfixed, strict=False) if nf]


class Logistic(LLogistic):
    """drc logistic (L.4 with f = 1) on the supplied x (here log dose)."""

    name = "L.4"

    def f(self, dose, parm, ds=1.0, rs=1.0, strict=True):
        b, c, d, e, f = self.full(parm)
        out = []
        for x in dose:
            out.append(_logistic_value(b * (x - e), c, d, f))
        return out

    def ssf(self, x, y):
        cv, dv = findcd(y)
        yt = [math.log((dv - v) / (v - cv)) for v in y]
        a0, a1 = lm_coef(x, yt)
        b = a1
        e = -a0 / b
        full = [b, cv, dv, e, 1.0]
        return [v for v, nf in zip(full, self.notfixed, strict=False) if nf]


# ------------------------------------------------------- R optim / vmmin
class Optim:
    def __init__(self, fn, par, parscale, ndeps=1e-3, maxit=500, reltol=1e-7, abstol=-math.inf):
        self.fn = fn
        self.ps = [float(v) for v in parscale]
        self.ndeps = ndeps
        self.maxit = maxit
        self.reltol = reltol
        self.abstol = abstol
        self.par0 = [float(v) for v in par]
        self.nfn = 0

    def fminfn(self, p):
        self.nfn += 1
        return self.fn([pi * si for pi, si in zip(p, self.ps, strict=False)])

    def fmingr(self, p):
        df = []
        x = list(p)
        for i in range(len(p)):
            eps = self.ndeps
            xx = [xi * si for xi, si in zip(x, self.ps, strict=False)]
            xx[i] = (p[i] + eps) * self.ps[i]
            v1 = self.fn(xx)
            xx[i] = (p[i] - eps) * self.ps[i]
            v2 = self.fn(xx)
            g = (v1 - v2) / (2 * eps)
            if not math.isfinite(g):
                raise RError(f"non-finite finite-difference value [{i + 1}]")
            df.append(g)
        return df

    def vmmin(self):
        stepredn, acctol, reltest = 0.2, 1e-4, 10.0
        n = len(self.par0)
        b = [v / s for v, s in zip(self.par0, self.ps, strict=False)]
        f = self.fminfn(b)
        if not math.isfinite(f):
            raise RError("initial value in 'vmmin' is not finite")
        Fmin = f
        funcount = gradcount = 1
        g = self.fmingr(b)
        it = 1
        ilast = gradcount
        B = [[0.0] * n for _ in range(n)]
        X = [0.0] * n
        c = [0.0] * n
        t = [0.0] * n
        count = 0
        while True:
            if ilast == gradcount:
                for i in range(n):
                    for j in range(i):
                        B[i][j] = 0.0
                    B[i][i] = 1.0
            for i in range(n):
                X[i] = b[i]
                c[i] = g[i]
            gradproj = 0.0
            for i in range(n):
                s = 0.0
                for j in range(i + 1):
                    s -= B[i][j] * g[j]
                for j in range(i + 1, n):
                    s -= B[j][i] * g[j]
                t[i] = s
                gradproj += s * g[i]
            if gradproj < 0.0:
                steplength = 1.0
                accpoint = False
                while True:
                    count = 0
                    for i in range(n):
                        b[i] = X[i] + steplength * t[i]
                        if reltest + X[i] == reltest + b[i]:
                            count += 1
                    if count < n:
                        f = self.fminfn(b)
                        funcount += 1
                        accpoint = math.isfinite(f) and (f <= Fmin + gradproj * steplength * acctol)
                        if not accpoint:
                            steplength *= stepredn
                    if count == n or accpoint:
                        break
                enough = (f > self.abstol) and abs(f - Fmin) > self.reltol * (
                    abs(Fmin) + self.reltol
                )
                if not enough:
                    count = n
                    Fmin = f
                if count < n:
                    Fmin = f
                    g = self.fmingr(b)
                    gradcount += 1
                    it += 1
                    D1 = 0.0
                    for i in range(n):
                        t[i] = steplength * t[i]
                        c[i] = g[i] - c[i]
                        D1 += t[i] * c[i]
                    if D1 > 0:
                        D2 = 0.0
                        for i in range(n):
                            s = 0.0
                            for j in range(i + 1):
                                s += B[i][j] * c[j]
                            for j in range(i + 1, n):
                                s += B[j][i] * c[j]
                            X[i] = s
                            D2 += s * c[i]
                        D2 = 1.0 + D2 / D1
                        for i in range(n):
                            for j in range(i + 1):
                                B[i][j] += (D2 * t[i] * t[j] - X[i] * t[j] - t[i] * X[j]) / D1
                    else:
                        ilast = gradcount
                else:
                    if ilast < gradcount:
                        count = 0
                        ilast = gradcount
            else:
                count = 0
                if ilast == gradcount:
                    count = n
                else:
                    ilast = gradcount
            if it >= self.maxit:
                break
            if gradcount - ilast > 2 * n:
                ilast = gradcount
            if not (count != n or ilast != gradcount):
                break
        par = [bi * si for bi, si in zip(b, self.ps, strict=False)]
        self.iters = it
        self.fail = 0 if it < self.maxit else 1
        self.gradcount = gradcount
        self.funcount = funcount
        return par, Fmin

    def optimhess(self, par):
        n = len(par)
        dpar = [p / s for p, s in zip(par, self.ps, strict=False)]
        H = np.zeros((n, n))
        for i in range(n):
            eps = self.ndeps / self.ps[i]
            dpar[i] += eps
            df1 = self.fmingr(dpar)
            dpar[i] -= 2 * eps
            df2 = self.fmingr(dpar)
            for j in range(n):
                H[i, j] = (df1[j] - df2[j]) / (2 * eps * self.ps[i] * self.ps[j])
            dpar[i] += eps
        return 0.5 * (H + H.T)


# ------------------------------------------------------------------- drm
class DrmFit:
    pass


def drm(dose, resp, model, maxit=500, reltol=1e-7, strict=True, strict_median=None):
    """Emulate drm(resp ~ dose, fct = model, control = drmc(errorm = FALSE)).

    Raises RWarning for any R warning that would escape drm (these are what
    SynergyFinder's tryCatch(warning=) catches) -- including the
    'Convergence failed' warning issued when optim() errors.
    Returns a DrmFit with par (original scale), value, etc.
    """
    dose = [float(v) for v in dose]
    resp = [float(v) for v in resp]
    if isinstance(model, LLogistic) and not isinstance(model, Logistic):
        ds = 10.0 ** math.floor(math.log10(r_median(dose))) if r_median(dose) > 0 else math.nan
        if math.isnan(ds) or ds < 1e-15:
            ds = 1.0
        med = r_median(resp)
        if strict_median is None:
            strict_median = strict
        if med < 0 and not strict_median:
            lg = math.nan
        else:
            lg = r_log10_checked(med)  # may raise RWarning
        rs = 10.0 ** math.floor(lg) if math.isfinite(lg) else (0.0 if lg == -math.inf else math.nan)
        if math.isnan(rs) or rs < 1e-15:
            rs = 1.0
    else:
        ds, rs = 1.0, 1.0
    xs = [d / ds for d in dose]
    ys = [r / rs for r in resp]
    start = model.ssf(xs, ys)
    start = [float(v) for v in start]
    start = [v if v != 0 else float(np.mean(start)) for v in start]

    def opfct(parm):
        pred = model.f(xs, parm, ds, rs, strict=strict)
        return rsum([(y - p) * (y - p) for y, p in zip(ys, pred, strict=False)])

    ps = [abs(v) for v in start]
    ps = [v if v >= 1e-4 else 1.0 for v in ps]
    opt = Optim(opfct, start, ps, maxit=maxit, reltol=reltol)
    try:
        par, _val = opt.vmmin()
        opt.optimhess(par)
    except RError as err:
        # drmOpt: try() catches the error, then warning("Convergence failed")
        raise RWarning(f"Convergence failed. The model was not fitted! ({err})") from err
    fit = DrmFit()
    sv = model.scale_vec(ds, rs)
    fit.par_scaled = par
    fit.par = [p * s for p, s in zip(par, sv, strict=False)]
    fit.value = opfct(par) * rs * rs
    fit.start = [p * s for p, s in zip(start, sv, strict=False)]
    fit.ds, fit.rs = ds, rs
    fit.iters = opt.iters
    fit.fail = opt.fail
    fit.model = model
    fit.full = model.full(fit.par)  # b, c, d, e, f on original scale
    fit.fitted = model.f(dose, fit.par, 1.0, 1.0, strict=False)
    return fit
