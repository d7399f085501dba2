"""Priors of the catalogue's uncertain values as probability distributions.

A catalogue value may carry ``prior: {dist, low, high, source}`` (:class:`~leptotwin.catalog.
schema.Prior`). ``low`` and ``high`` are in the value's unit. This module turns a prior into a
frozen :mod:`scipy.stats` distribution (``ppf``, ``cdf``, ``rvs``, ``logpdf``, ``median``), lists
every uncertain value of a catalogue (:func:`uncertain_parameters`) and builds a catalogue with
some values replaced (:func:`with_values`), for the calibration, the ensemble and the sensitivity
analysis.

How each distribution is placed on its range (``z = 1.959964``, the 97.5 % normal quantile):

``uniform``
    uniform on ``[low, high]``.
``loguniform``
    log-uniform on ``[low, high]``.
``normal``
    mean ``(low + high) / 2``, SD ``(high - low) / (2 z)``: ``low`` and ``high`` are the 2.5 % and
    97.5 % quantiles.
``logitnormal``
    normal on the logit scale with mean ``(logit low + logit high) / 2`` and SD
    ``(logit high - logit low) / (2 z)``: ``low`` and ``high`` are the 2.5 % and 97.5 % quantiles.
``lognormal``
    **median = the catalogue value**, log-SD ``sigma = max(ln(high / value), ln(value / low)) / z``:
    the 95 % bound on the side further (in log) from the value is met exactly, the other side's
    2.5 % or 97.5 % quantile lies beyond the stated bound. Why: the catalogue value is the model's
    operating point today, and every claim and figure was produced there; keeping it the prior
    median means that sampling the prior is centred on what has been run, and a prior is never
    narrower than the range its source gives on either side. Where a range is symmetric in log
    around the value (``value / k`` to ``value x k``, the usual "95 % within k-fold"), both
    quantiles equal ``low`` and ``high``. Without a value (:func:`distribution` called with
    ``median=None``) the median is the geometric mean of the bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from leptotwin.catalog.loader import Catalog
from leptotwin.catalog.schema import Prior, Quantity
from leptotwin.errors import LeptotwinError

__all__ = [
    "Z95",
    "distribution",
    "prior_distribution",
    "uncertain_parameters",
    "with_values",
]

Z95 = float(stats.norm.ppf(0.975))
"""The 97.5 % quantile of the standard normal (1.959964...)."""


class _LogitNormal(stats.rv_continuous):
    """X = expit(mu + s Z), Z standard normal: a distribution on (0, 1)."""

    def _argcheck(self, mu, s):  # type: ignore[no-untyped-def]
        return np.isfinite(mu) & (s > 0)

    def _pdf(self, x, mu, s):  # type: ignore[no-untyped-def]
        return np.exp(self._logpdf(x, mu, s))

    def _logpdf(self, x, mu, s):  # type: ignore[no-untyped-def]
        # scipy hands the closed support [0, 1]: the density is 0 at both ends
        inside = (x > 0) & (x < 1)
        xs = np.where(inside, x, 0.5)
        z = (logit(xs) - mu) / s
        out = stats.norm.logpdf(z) - np.log(s) - np.log(xs) - np.log1p(-xs)
        return np.where(inside, out, -np.inf)

    def _cdf(self, x, mu, s):  # type: ignore[no-untyped-def]
        with np.errstate(divide="ignore"):
            return stats.norm.cdf((logit(x) - mu) / s)

    def _sf(self, x, mu, s):  # type: ignore[no-untyped-def]
        with np.errstate(divide="ignore"):
            return stats.norm.sf((logit(x) - mu) / s)

    def _ppf(self, q, mu, s):  # type: ignore[no-untyped-def]
        return expit(mu + s * stats.norm.ppf(q))

    def _isf(self, q, mu, s):  # type: ignore[no-untyped-def]
        return expit(mu + s * stats.norm.isf(q))

    def _rvs(self, mu, s, size=None, random_state=None):  # type: ignore[no-untyped-def]
        return expit(mu + s * random_state.standard_normal(size))


logitnormal = _LogitNormal(a=0.0, b=1.0, name="logitnormal", shapes="mu, s")
"""The logit-normal family (shapes ``mu``, ``s`` on the logit scale)."""


def distribution(prior: Prior, median: float | None = None) -> stats.rv_continuous:
    """A frozen scipy distribution for ``prior`` (placement rules in the module docstring).

    Parameters
    ----------
    prior : Prior
    median : float, optional
        The catalogue value: the median of a ``lognormal`` prior (ignored by the others).
        Without it a lognormal prior is centred on the geometric mean of its bounds.
    """
    low, high = prior.low, prior.high
    if prior.dist == "uniform":
        return stats.uniform(loc=low, scale=high - low)
    if prior.dist == "loguniform":
        return stats.loguniform(low, high)
    if prior.dist == "normal":
        return stats.norm(loc=(low + high) / 2, scale=(high - low) / (2 * Z95))
    if prior.dist == "logitnormal":
        a, b = float(logit(low)), float(logit(high))
        return logitnormal(mu=(a + b) / 2, s=(b - a) / (2 * Z95))
    # lognormal
    m = math.sqrt(low * high) if median is None else float(median)
    if not low <= m <= high:
        raise LeptotwinError(
            "the median of a lognormal prior must lie inside its range",
            field="median",
            value=m,
            expected=f"a value in [{low:g}, {high:g}]",
        )
    sigma = max(math.log(high / m), math.log(m / low)) / Z95
    return stats.lognorm(s=sigma, scale=m)


def prior_distribution(quantity: Quantity) -> stats.rv_continuous:
    """The frozen prior distribution of a catalogue quantity (lognormal: median = its value).

    Raises
    ------
    LeptotwinError
        When the quantity has no prior (a fixed value).
    """
    if quantity.prior is None:
        raise LeptotwinError(
            "a fixed value has no prior", field="prior", value=quantity.value, expected="a prior"
        )
    p = quantity.prior
    median = p.catalog_value if p.catalog_value is not None else quantity.value
    return distribution(quantity.prior, median=median)


_UNCERTAIN_COLUMNS = [
    "path",
    "group",
    "value",
    "unit",
    "prior_dist",
    "prior_low",
    "prior_high",
    "prior_median",
    "prior_source",
    "assumption",
    "tied_paths",
]


def uncertain_parameters(catalog: Catalog) -> pd.DataFrame:
    """Every uncertain value of the catalogue (every value with a prior), one row each.

    A value shared through a YAML anchor (:attr:`Catalog.tied`, e.g. the between-subject SDs of
    all oral kinase inhibitors) is one parameter: one row, under its first path, with the others
    in ``tied_paths``; :func:`with_values` on that path changes them all.

    Returns
    -------
    DataFrame
        ``path, group, value, unit, prior_dist, prior_low, prior_high, prior_median,
        prior_source, assumption, tied_paths`` (``tied_paths``: the other paths, ``"; "``
        separated, empty when none).
    """
    rows, seen = [], set()
    for group, path, q in catalog.quantities():
        if q.prior is None or path in seen:
            continue
        tied = catalog.tied.get(path, (path,))
        seen.update(tied)
        rows.append(
            {
                "path": path,
                "group": group,
                "value": q.value,
                "unit": q.unit,
                "prior_dist": q.prior.dist,
                "prior_low": q.prior.low,
                "prior_high": q.prior.high,
                "prior_median": float(prior_distribution(q).median()),
                "prior_source": q.prior.source,
                "assumption": q.assumption,
                "tied_paths": "; ".join(p for p in tied if p != path),
            }
        )
    return pd.DataFrame(rows, columns=_UNCERTAIN_COLUMNS)


def with_values(catalog: Catalog, values: Mapping[str, float], *, tied: bool = True) -> Catalog:
    """A new catalogue with the values at ``values``' paths replaced (see
    :meth:`Catalog.with_values`); ``catalog`` itself is unchanged.

    >>> cat = with_values(load_catalog(), {"pathway.egfr_weight": 5.5})  # doctest: +SKIP
    """
    return catalog.with_values(dict(values), tied=tied)
