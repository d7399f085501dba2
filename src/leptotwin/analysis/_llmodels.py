"""Sigmoid dose-response models in R drc's parameterisation, batched over curves.

Every model is ``f(x) = c + (d - c) * g(u)`` with ``u = b * (log x - log e)``:

* log-logistic (``LL.2``, ``LL.3``, ``LL.4``, ``LL.5``): ``g(u) = (1 + exp(u)) ** (-f)``
* Weibull type 1 (``W1.4``): ``g(u) = exp(-exp(u))``

so that, as in drc, ``b > 0`` is a decreasing curve, ``d`` is the response at dose 0 for ``b > 0``
and ``c`` the response at infinite dose. ``LL.3`` fixes ``c = 0``, ``LL.2`` fixes ``c = 0`` and
``d = 1``, ``LL.4`` fixes the asymmetry ``f = 1``. Any other parameter can be fixed too
(``get_model("LL.4", fixed={"d": 1.0})`` is the GR-metrics model of Hafner et al. 2016).

Dose 0 is the limit ``log x -> -inf``: ``g = 1`` (response ``d``) for ``b > 0`` and ``g = 0``
(response ``c``) for ``b < 0``; the derivatives of ``g`` vanish there.

Internally the solver works on ``theta``: the free parameters in drc's order with the positive ones
(``e`` and ``f``) on the log scale, so ``theta = (b, c, d, log e, log f)`` minus the fixed ones.
Shapes: ``theta`` is (n_curves, n_free); dose-level arrays are (n_curves, n_doses), padded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from leptotwin.errors import LeptotwinError

__all__ = ["LL2", "LL3", "LL4", "LL5", "W14", "DoseResponseModel", "get_model"]

Array = NDArray[np.float64]
_EXP_MAX = 700.0  # exp(700) is finite in float64; larger arguments are clipped


class DoseResponseModel:
    """Base class: a sigmoid family ``c + (d - c) g(b (log x - log e); f)``.

    Subclasses declare ``name``, ``family_names`` (all parameters of the family, drc order),
    ``default_fixed`` and ``formula``, and implement ``_g`` and ``_g_inverse``.

    Parameters
    ----------
    fixed : mapping of str to float, optional
        Parameters held at a value, on top of the model's own (``LL.3`` already fixes ``c = 0``).
    """

    name: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    family_names: ClassVar[tuple[str, ...]] = ("b", "c", "d", "e")
    default_fixed: ClassVar[dict[str, float]] = {}
    #: Natural bounds; parameters bounded below by 0 are fitted on the log scale.
    bounds: ClassVar[dict[str, tuple[float, float]]] = {
        "b": (-np.inf, np.inf),
        "c": (-np.inf, np.inf),
        "d": (-np.inf, np.inf),
        "e": (0.0, np.inf),
        "f": (0.0, np.inf),
    }

    def __init__(self, fixed: Mapping[str, float] | None = None) -> None:
        merged = dict(self.default_fixed)
        for key, val in (fixed or {}).items():
            if key not in self.family_names:
                raise LeptotwinError(
                    f"model {self.name} has no parameter to fix",
                    source="get_model",
                    field="fixed",
                    value=key,
                    expected=f"one of {', '.join(self.family_names)}",
                )
            lo, hi = self.bounds[key]
            if not (np.isfinite(val) and lo < val < hi):
                raise LeptotwinError(
                    "fixed value outside the parameter's range",
                    source="get_model",
                    field=f"fixed[{key!r}]",
                    value=val,
                    expected=f"a finite value in ({lo}, {hi})",
                )
            merged[key] = float(val)
        self.fixed: dict[str, float] = merged
        self.names: tuple[str, ...] = tuple(n for n in self.family_names if n not in merged)
        self._log_scaled = np.array([n in ("e", "f") for n in self.names])

    def __repr__(self) -> str:
        extra = {k: v for k, v in self.fixed.items() if k not in self.default_fixed}
        return f"{self.name}(fixed={extra})" if extra else f"{self.name}()"

    @property
    def n_params(self) -> int:
        """Number of free parameters ``p``."""
        return len(self.names)

    # ---------------------------------------------------------------- parameter transforms
    def to_natural(self, theta: Array) -> Array:
        """Internal ``theta`` (log e, log f) -> drc's parameters, shape (n, p)."""
        with np.errstate(over="ignore"):
            return np.where(self._log_scaled, np.exp(theta), theta)

    def to_internal(self, params: Array) -> Array:
        """drc's parameters -> internal ``theta``, shape (n, p); non-positive e/f give NaN."""
        with np.errstate(divide="ignore", invalid="ignore"):
            logged = np.log(np.where(params > 0, params, np.nan))
        return np.where(self._log_scaled, logged, params)

    def full(self, params: Array) -> dict[str, Array]:
        """All family parameters as (n,) arrays (fixed ones broadcast), natural scale."""
        n = params.shape[0]
        out = {name: params[:, i] for i, name in enumerate(self.names)}
        for name, val in self.fixed.items():
            out[name] = np.full(n, val)
        out.setdefault("f", np.ones(n))
        return out

    # ---------------------------------------------------------------- family pieces
    def _g(self, u: Array, f: Array | None, *, derivs: bool) -> tuple[Array, ...]:
        """``g(u)`` and, if ``derivs``, ``dg/du`` and ``dg/dlog f`` (None when f is fixed)."""
        raise NotImplementedError

    def _g_inverse(self, q: Array, f: Array) -> Array:
        """``u`` such that ``g(u) = q`` for ``q`` in (0, 1)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- evaluation
    def evaluate(
        self, theta: Array, t: Array, zero: Array, *, jac: bool = True
    ) -> tuple[Array, Array | None]:
        """Model values and Jacobian with respect to ``theta``.

        Parameters
        ----------
        theta : ndarray of shape (n, p)
            Internal parameters.
        t : ndarray of shape (n, m)
            Natural log of dose; any finite placeholder where ``zero``.
        zero : ndarray of bool, shape (n, m)
            True where the dose is 0.
        jac : bool
            Also return the Jacobian.

        Returns
        -------
        f : ndarray of shape (n, m)
            Predicted response.
        J : ndarray of shape (n, p, m) or None
            ``d f / d theta`` (parameter axis before dose axis).
        """
        n, m = t.shape
        par = self.full(self.to_natural(theta))
        b, c, d = par["b"][:, None], par["c"][:, None], par["d"][:, None]
        if "e" in self.names:  # log e as the solver holds it (exp then log loses e < 1e-308)
            le = theta[:, self.names.index("e")][:, None]
        else:
            le = np.log(par["e"])[:, None]
        f_free = "f" in self.names
        has_zero = bool(zero.any())
        dt = t - le
        u = b * dt
        pieces = self._g(u, par["f"][:, None] if f_free else None, derivs=jac)
        g = pieces[0]
        if has_zero:
            np.copyto(g, np.broadcast_to(b > 0, g.shape), where=zero)
        span = d - c
        pred = span * g
        pred += c
        if not jac:
            return pred, None
        J = np.empty((n, len(self.names), m))
        s_gu = pieces[1]
        s_gu *= span
        if has_zero:
            np.copyto(s_gu, 0.0, where=zero)
        for i, name in enumerate(self.names):
            if name == "b":
                np.multiply(s_gu, dt, out=J[:, i])
            elif name == "c":
                np.subtract(1.0, g, out=J[:, i])
            elif name == "d":
                J[:, i] = g
            elif name == "e":
                np.multiply(s_gu, -b, out=J[:, i])
            else:  # log f
                np.multiply(pieces[2], span, out=J[:, i])
                if has_zero:
                    np.copyto(J[:, i], 0.0, where=zero)
        return pred, J

    def predict(self, params: Array, dose: Array) -> Array:
        """Response at ``dose`` for drc-scale ``params``.

        Parameters
        ----------
        params : ndarray of shape (n, p)
            drc parameters in ``self.names`` order.
        dose : ndarray of shape (n, m) or (m,)
            Doses (0 allowed), in the data's dose unit.

        Returns
        -------
        ndarray of shape (n, m)
        """
        dose = np.broadcast_to(np.asarray(dose, float), (params.shape[0], np.shape(dose)[-1]))
        zero = dose <= 0
        t = np.log(np.where(zero, 1.0, dose))
        return self.evaluate(self.to_internal(params), t, zero, jac=False)[0]

    def _g2(self, u: Array) -> tuple[Array, Array, Array] | None:
        """``g``, ``g'`` and ``g''`` in ``u`` when ``f`` is fixed at 1; None if not available."""
        return None

    def rss_hessian(self, params: Array, t: Array, zero: Array, y: Array, w: Array) -> Array | None:
        """Exact Hessian of the RSS in drc's parameters, shape (n, p, p), or None.

        ``H = 2 (J^T J - sum_i r_i d^2 f_i)`` from analytic second derivatives, available when
        ``f`` is not free (LL.2, LL.3, LL.4, W1.4); shapes of ``t``, ``zero``, ``y``, ``w`` as in
        :meth:`evaluate` (``w`` is 1 for an observation, 0 for padding).
        """
        if "f" in self.names:
            return None
        par = self.full(params)
        b, c, d = par["b"][:, None], par["c"][:, None], par["d"][:, None]
        le = np.log(par["e"])[:, None]
        dt = t - le
        pieces = self._g2(b * dt)
        if pieces is None:
            return None
        g, g1, g2 = pieces
        if zero.any():
            g = np.where(zero, (b > 0).astype(float), g)
            g1 = np.where(zero, 0.0, g1)
            g2 = np.where(zero, 0.0, g2)
        span = d - c
        r = (y - c - span * g) * w
        first = {"b": span * g1 * dt, "c": 1.0 - g, "d": g, "e": -span * g1 * b}
        second = {
            ("b", "b"): span * g2 * dt * dt,
            ("b", "c"): -g1 * dt,
            ("b", "d"): g1 * dt,
            ("b", "e"): -span * (b * dt * g2 + g1),
            ("c", "e"): g1 * b,
            ("d", "e"): -g1 * b,
            ("e", "e"): span * g2 * b * b,
        }
        names = self.names
        k = len(names)
        J = np.stack([first[nm] * w for nm in names], axis=1)
        H = 2.0 * (J @ J.transpose(0, 2, 1))
        for i in range(k):
            for j in range(i, k):
                key = (names[i], names[j])
                if key in second:
                    term = 2.0 * np.einsum("nm,nm->n", r, second[key])
                    H[:, i, j] -= term
                    if i != j:
                        H[:, j, i] -= term
        # chain rule from log e to e: H_ee / e^2 - grad_le / e^2, cross terms / e
        ie = names.index("e")
        e = par["e"]
        grad_le = -2.0 * np.einsum("nm,nm->n", J[:, ie], r)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # e beyond 1e154
            H[:, ie, :] /= e[:, None]
            H[:, :, ie] /= e[:, None]
            H[:, ie, ie] -= grad_le / e**2
        return H

    # ---------------------------------------------------------------- inverse
    def log_dose_at_fraction(self, params: Array, q: Array) -> Array:
        """``log x`` where ``g = q``: the curve has gone ``1 - q`` of the way from d to c.

        Parameters
        ----------
        params : ndarray of shape (n, p)
        q : ndarray broadcastable to (n,)

        Returns
        -------
        ndarray of shape (n,); NaN where ``q`` is outside (0, 1).
        """
        par = self.full(params)
        q = np.broadcast_to(np.asarray(q, float), par["b"].shape)
        inside = (q > 0) & (q < 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = self._g_inverse(np.where(inside, q, 0.5), par["f"])
            out = np.log(par["e"]) + u / par["b"]
        return np.where(inside, out, np.nan)

    def log_ed(self, params: Array, p: float) -> Array:
        """Natural log of drc's relative effective dose ED``p``, shape (n,).

        ``ED p`` is the dose at which the response has moved ``p`` % of the way from the dose-0
        asymptote to the infinite-dose one (drc ``ED(type="relative")``, reference "control").
        """
        b = self.full(params)["b"]
        q = np.where(b > 0, 1.0 - p / 100.0, p / 100.0)
        return self.log_dose_at_fraction(params, q)

    def log_dose_at_level(self, params: Array, level: float) -> Array:
        """Natural log of the dose where the curve crosses the absolute ``level``, shape (n,)."""
        par = self.full(params)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = (level - par["c"]) / (par["d"] - par["c"])
        return self.log_dose_at_fraction(params, q)

    def mean_response(self, params: Array, t_lo: Array, t_hi: Array) -> Array:
        """Mean of the curve over ``log x`` in [t_lo, t_hi], shape (n,); NaN if t_hi <= t_lo.

        64-point Gauss–Legendre quadrature (exact formula in the log-logistic f = 1 case).
        """
        nodes, weights = np.polynomial.legendre.leggauss(64)
        ok = t_hi > t_lo
        lo, hi = np.where(ok, t_lo, 0.0), np.where(ok, t_hi, 1.0)
        t = 0.5 * (hi + lo)[:, None] + 0.5 * (hi - lo)[:, None] * nodes[None, :]
        values = self.predict(params, np.exp(t))
        return np.where(ok, 0.5 * (values * weights).sum(axis=1), np.nan)

    # ---------------------------------------------------------------- self-starter
    def start(self, t: Array, y: Array, mask: Array, zero: Array) -> Array:
        """drc-like self-starter: asymptotes from the response range, b and e by regression.

        ``c`` and ``d`` start 0.1 % beyond the smallest and largest response; ``b`` and ``log e``
        come from the least-squares line of ``g^{-1}((y - c) / (d - c))`` on ``log x`` over the
        positive doses (drc's ``llogistic.ssf``). Shapes as in :meth:`evaluate`; returns
        (n, p) internal ``theta``.
        """
        big = np.finfo(float).max
        y_lo = np.min(np.where(mask, y, big), axis=1)
        y_hi = np.max(np.where(mask, y, -big), axis=1)
        pad = 1e-3 * np.maximum(y_hi - y_lo, 1e-12 * np.maximum(abs(y_hi), 1.0))
        c0 = np.full_like(y_lo, self.fixed["c"]) if "c" in self.fixed else y_lo - pad
        d0 = np.full_like(y_hi, self.fixed["d"]) if "d" in self.fixed else y_hi + pad
        f0 = np.full_like(y_lo, self.fixed.get("f", 1.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            q = (y - c0[:, None]) / (d0 - c0)[:, None]
        q = np.clip(np.nan_to_num(q, nan=0.5), 1e-3, 1 - 1e-3)
        z = self._g_inverse(q, f0[:, None])
        w = (mask & ~zero).astype(float)
        nw = w.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_bar = (w * t).sum(axis=1) / nw
            z_bar = (w * z).sum(axis=1) / nw
            dt = np.where(w > 0, t - t_bar[:, None], 0.0)
            slope = (dt * (z - z_bar[:, None])).sum(axis=1) / (dt * dt).sum(axis=1)
            le0 = t_bar - z_bar / slope
        t_lo = np.min(np.where(w > 0, t, np.inf), axis=1)
        t_hi = np.max(np.where(w > 0, t, -np.inf), axis=1)
        bad = ~np.isfinite(slope) | (np.abs(slope) < 1e-6) | ~np.isfinite(le0)
        b0 = np.where(bad, 1.0, slope)
        mid = np.where(np.isfinite(t_bar), t_bar, 0.0)
        le0 = np.where(bad, mid, np.clip(le0, t_lo - 2.0, t_hi + 2.0))
        le0 = np.where(np.isfinite(le0), le0, mid)
        natural = {"b": b0, "c": c0, "d": d0, "e": np.exp(le0), "f": f0}
        params = np.stack([natural[n] for n in self.names], axis=1)
        return self.to_internal(params)

    def alternative_starts(self, theta0: Array, t: Array, mask: Array, zero: Array) -> list[Array]:
        """Extra starting points for curves where the self-starter may lead astray.

        ``e`` at the lower and upper third of the tested log-dose range with a unit slope of the
        self-starter's sign, and for a free ``f`` asymmetries of 0.25 and 4.
        """
        w = mask & ~zero
        t_lo = np.min(np.where(w, t, np.inf), axis=1)
        t_hi = np.max(np.where(w, t, -np.inf), axis=1)
        t_lo = np.where(np.isfinite(t_lo), t_lo, 0.0)
        t_hi = np.where(np.isfinite(t_hi), t_hi, 0.0)
        ib = self.names.index("b")
        ie = self.names.index("e")
        out = []
        for frac in (1 / 3, 2 / 3):
            alt = theta0.copy()
            alt[:, ib] = np.sign(theta0[:, ib]) + (theta0[:, ib] == 0)
            alt[:, ie] = t_lo + frac * (t_hi - t_lo)
            out.append(alt)
        if "f" in self.names:
            i_f = self.names.index("f")
            for f_val in (0.25, 4.0):
                alt = theta0.copy()
                alt[:, i_f] = np.log(f_val)
                out.append(alt)
        return out

    @property
    def flip_is_symmetry(self) -> bool:
        """True when ``(b, c, d) -> (-b, d, c)`` maps every curve onto itself (log-logistic with
        ``f = 1`` and free ``c`` and ``d``: LL.4), so one sign of ``b`` covers both."""
        return (
            isinstance(self, _LogLogistic)
            and self.fixed.get("f") == 1.0
            and "c" in self.names
            and "d" in self.names
        )

    def flipped_starts(self, theta0: Array, t: Array, mask: Array, zero: Array) -> list[Array]:
        """Starts on the other side of ``b = 0``: the self-starter's point and ``e`` at the lower
        and upper third of the tested log doses (unit slope), each with ``b`` of the opposite
        sign and, where both are free, ``c`` and ``d`` swapped (the same asymptotes, the other
        curve family). Shapes as in :meth:`alternative_starts`."""
        ib = self.names.index("b")
        flipped = []
        for alt in [theta0, *self.alternative_starts(theta0, t, mask, zero)[:2]]:
            alt = alt.copy()
            alt[:, ib] = -alt[:, ib]
            if "c" in self.names and "d" in self.names:
                ic, id_ = self.names.index("c"), self.names.index("d")
                alt[:, [ic, id_]] = alt[:, [id_, ic]]
            flipped.append(alt)
        return flipped


class _LogLogistic(DoseResponseModel):
    """``g(u) = (1 + exp(u)) ** (-f)``."""

    family_names = ("b", "c", "d", "e", "f")

    def _g(self, u: Array, f: Array | None, *, derivs: bool) -> tuple[Array, ...]:
        ex = np.exp(np.minimum(u, _EXP_MAX))
        if f is None:  # f = 1: the logistic function, cheaply and in place
            ex += 1.0
            g = np.reciprocal(ex, out=ex)
            if not derivs:
                return (g,)
            g_u = g * g
            g_u -= g
            return g, g_u, None
        soft = np.log1p(ex)  # log(1 + exp(u)); u is clipped above so this is finite
        soft = np.where(u > _EXP_MAX, u, soft)
        g = np.exp(-f * soft)
        if not derivs:
            return (g,)
        sig = ex / (1.0 + ex)
        sig = np.where(u > _EXP_MAX, 1.0, sig)
        return g, -f * sig * g, -f * soft * g

    def _g2(self, u: Array) -> tuple[Array, Array, Array] | None:
        if self.fixed.get("f") != 1.0:
            return None
        g = 1.0 / (1.0 + np.exp(np.minimum(u, _EXP_MAX)))
        g1 = -g * (1.0 - g)
        return g, g1, g1 * (2.0 * g - 1.0)

    def mean_response(self, params: Array, t_lo: Array, t_hi: Array) -> Array:
        """Exact for f = 1: the integral of 1 / (1 + e^u) dt is t - softplus(u) / b."""
        if "f" in self.names or self.fixed.get("f") != 1.0:
            return super().mean_response(params, t_lo, t_hi)
        par = self.full(params)
        b, c, d, le = par["b"], par["c"], par["d"], np.log(par["e"])
        ok = t_hi > t_lo
        lo, hi = np.where(ok, t_lo, 0.0), np.where(ok, t_hi, 1.0)
        flat_b = np.abs(b) < 1e-12
        safe_b = np.where(flat_b, 1.0, b)
        with np.errstate(invalid="ignore"):  # NaN parameters of failed fits stay NaN
            soft = np.logaddexp(0.0, b * (hi - le)) - np.logaddexp(0.0, b * (lo - le))
        mean_g = np.where(flat_b, 0.5, 1.0 - soft / (safe_b * (hi - lo)))
        return np.where(ok, c + (d - c) * mean_g, np.nan)

    def _g_inverse(self, q: Array, f: Array) -> Array:
        a = -np.log(q) / f  # log(expm1(a)), without overflow for large a
        return np.where(a > 30.0, a + np.log1p(-np.exp(-a)), np.log(np.expm1(np.minimum(a, 30.0))))


class _Weibull1(DoseResponseModel):
    """``g(u) = exp(-exp(u))``."""

    family_names = ("b", "c", "d", "e")

    def _g(self, u: Array, f: Array | None, *, derivs: bool) -> tuple[Array, ...]:
        w = np.exp(np.minimum(u, _EXP_MAX))
        g = np.exp(-w)
        if not derivs:
            return (g,)
        return g, -w * g, None

    def _g2(self, u: Array) -> tuple[Array, Array, Array] | None:
        w = np.exp(np.minimum(u, _EXP_MAX))
        g = np.exp(-w)
        return g, -w * g, w * g * (w - 1.0)

    def _g_inverse(self, q: Array, f: Array) -> Array:
        return np.log(-np.log(q))


class LL2(_LogLogistic):
    r"""drc ``LL.2``: :math:`f(x) = 1 / (1 + \exp(b(\log x - \log e)))` (c = 0, d = 1)."""

    name = "LL.2"
    formula = "1 / (1 + exp(b (log x - log e)))"
    default_fixed: ClassVar[dict[str, float]] = {"c": 0.0, "d": 1.0, "f": 1.0}


class LL3(_LogLogistic):
    r"""drc ``LL.3``: :math:`f(x) = d / (1 + \exp(b(\log x - \log e)))` (c = 0)."""

    name = "LL.3"
    formula = "d / (1 + exp(b (log x - log e)))"
    default_fixed: ClassVar[dict[str, float]] = {"c": 0.0, "f": 1.0}


class LL4(_LogLogistic):
    r"""drc ``LL.4``: :math:`f(x) = c + (d - c) / (1 + \exp(b(\log x - \log e)))`."""

    name = "LL.4"
    formula = "c + (d - c) / (1 + exp(b (log x - log e)))"
    default_fixed: ClassVar[dict[str, float]] = {"f": 1.0}


class LL5(_LogLogistic):
    r"""drc ``LL.5``: :math:`f(x) = c + (d - c) / (1 + \exp(b(\log x - \log e)))^f`."""

    name = "LL.5"
    formula = "c + (d - c) / (1 + exp(b (log x - log e)))^f"
    default_fixed: ClassVar[dict[str, float]] = {}


class W14(_Weibull1):
    r"""drc ``W1.4``: :math:`f(x) = c + (d - c) \exp(-\exp(b(\log x - \log e)))`."""

    name = "W1.4"
    formula = "c + (d - c) exp(-exp(b (log x - log e)))"
    default_fixed: ClassVar[dict[str, float]] = {}


MODELS: dict[str, type[DoseResponseModel]] = {cls.name: cls for cls in (LL2, LL3, LL4, LL5, W14)}


def get_model(
    model: str | DoseResponseModel, fixed: Mapping[str, float] | None = None
) -> DoseResponseModel:
    """Return a model instance from its drc name (``"LL.4"``) or pass an instance through.

    Raises
    ------
    LeptotwinError
        If the name is unknown or ``fixed`` names a parameter the model lacks.
    """
    if isinstance(model, DoseResponseModel):
        return model if fixed is None else type(model)({**model.fixed, **fixed})
    if model not in MODELS:
        raise LeptotwinError(
            "unknown dose-response model",
            source="DoseResponseFitter",
            field="model",
            value=model,
            expected=f"one of {', '.join(MODELS)}",
        )
    return MODELS[model](fixed)
