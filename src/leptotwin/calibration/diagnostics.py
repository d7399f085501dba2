"""Convergence diagnostics of the calibration's chains (numpy only).

Rank-normalised split-R-hat, bulk and tail effective sample size (ESS), as defined by Vehtari A,
Gelman A, Simpson D, Carpenter B, Bürkner P-C. Rank-normalization, folding, and localization: an
improved R-hat for assessing convergence of MCMC. Bayesian Analysis 2021;16:667,
doi:10.1214/20-BA1221:

* each chain is split in two halves (a trend within a chain shows as disagreeing halves);
* draws are replaced by the normal scores of their ranks over all chains (*rank
  normalisation*), so heavy tails do not break the variance-based statistics;
* **R-hat** = max(R-hat of the rank-normalised draws, R-hat of the rank-normalised draws folded
  around the median), the second catching chains that differ in scale only; values above 1.01
  say the chains have not mixed;
* **bulk ESS**: the ESS of the rank-normalised draws, from autocorrelations combined across
  chains and Geyer's initial monotone sequence (the estimator of Stan and ArviZ);
* **tail ESS**: the smaller ESS of the indicators ``draw <= q05`` and ``draw <= q95`` (how well
  the 5 % and 95 % quantiles, hence the 90 % interval, are known).

**emcee's walkers are not independent chains**: each walker's proposals are built from the
positions of the others, so the walkers of one ensemble are correlated. Treating them as chains
(as done here) gives an R-hat that is *indicative* (it reliably flags walkers stuck in different
regions, but an R-hat near 1 is weaker evidence than for independent chains started apart) and
ESS values that may be optimistic. The calibration therefore also reports emcee's own integrated
autocorrelation time ``tau`` per parameter (Goodman & Weare 2010; Sokal's windowed estimator,
computed on the ensemble mean) and ``n_steps / tau``: emcee's authors recommend a chain of at
least ~50 tau, and the ensemble then holds about ``n_walkers x n_steps / tau`` independent
draws. The acceptance fraction (typically 0.2-0.5 for the stretch move) is reported too.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

__all__ = [
    "autocovariance",
    "ess",
    "ess_bulk",
    "ess_tail",
    "rank_normalize",
    "rhat",
    "rhat_basic",
    "split_chains",
    "summarize_parameter",
]


def _as_chains(draws: np.ndarray) -> np.ndarray:
    """``draws`` as a float array of shape (chains, draws per chain)."""
    x = np.asarray(draws, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"expected draws of shape (chains, draws), got {x.shape}")
    return x


def split_chains(draws: np.ndarray) -> np.ndarray:
    """Each chain cut into its first and second half (the middle draw of an odd length is
    dropped): shape (2 x chains, draws // 2)."""
    x = _as_chains(draws)
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half :]], axis=0)


def rank_normalize(draws: np.ndarray) -> np.ndarray:
    """Normal scores of the pooled ranks (average ranks for ties, Blom's offset 3/8):
    ``Phi^-1((r - 3/8) / (S + 1/4))``, same shape as ``draws``."""
    x = _as_chains(draws)
    ranks = stats.rankdata(x, method="average").reshape(x.shape)
    return special.ndtri((ranks - 0.375) / (x.size + 0.25))


def rhat_basic(draws: np.ndarray) -> float:
    """Gelman-Rubin potential scale reduction ``sqrt(var+ / W)`` of chains as given (no split,
    no ranks); NaN when a chain has fewer than 2 draws or every chain is constant."""
    x = _as_chains(draws)
    m, n = x.shape
    if n < 2 or m < 1:
        return math.nan
    w = float(np.mean(np.var(x, axis=1, ddof=1)))
    b_over_n = float(np.var(np.mean(x, axis=1), ddof=1)) if m > 1 else 0.0
    if w <= 0 or not math.isfinite(w):
        return math.nan
    var_plus = (n - 1) / n * w + b_over_n
    return math.sqrt(var_plus / w)


def rhat(draws: np.ndarray) -> float:
    """Rank-normalised split-R-hat (Vehtari et al. 2021): the larger of the bulk and the folded
    (tail) R-hat. ``draws``: shape (chains, draws per chain); for emcee (walkers as chains)."""
    x = split_chains(draws)
    if not np.all(np.isfinite(x)):
        return math.nan
    bulk = rhat_basic(rank_normalize(x))
    folded = rhat_basic(rank_normalize(np.abs(x - np.median(x))))
    return max(bulk, folded) if math.isfinite(bulk) and math.isfinite(folded) else math.nan


def autocovariance(x: np.ndarray) -> np.ndarray:
    """Autocovariance of each row at lags 0 .. n-1 (divided by n), by FFT."""
    x = _as_chains(x)
    n = x.shape[1]
    size = 1 << (2 * n - 1).bit_length()
    centred = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(centred, n=size, axis=1)
    return np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :n] / n


def ess(draws: np.ndarray) -> float:
    """Effective sample size of chains as given (shape (chains, draws per chain)).

    Autocorrelations are combined across chains through the between- and within-chain variance
    (``rho_t = 1 - (W - mean_c acov_c(t)) / var+``) and summed over Geyer's initial positive
    and monotone sequence of pair sums; the ESS is ``chains x draws / tau`` with ``tau`` floored
    at ``1 / log10(chains x draws)`` (so anti-correlated chains may give more than their count).
    NaN for constant or too short chains.
    """
    x = _as_chains(draws)
    m, n = x.shape
    if n < 4 or not np.all(np.isfinite(x)):
        return math.nan
    acov = autocovariance(x)
    chain_var = acov[:, 0] * n / (n - 1)
    mean_var = float(np.mean(chain_var))
    var_plus = mean_var * (n - 1) / n
    if m > 1:
        var_plus += float(np.var(np.mean(x, axis=1), ddof=1))
    if var_plus <= 0 or not math.isfinite(var_plus):
        return math.nan
    mean_acov = np.mean(acov, axis=0)
    rho = 1.0 - (mean_var - mean_acov) / var_plus
    rho[0] = 1.0
    # Geyer: sum pairs (rho_{2k} + rho_{2k+1}) while positive, each pair no larger than the last
    pairs = []
    k = 0
    while 2 * k + 1 < n:
        p = rho[2 * k] + rho[2 * k + 1]
        if p <= 0:
            break
        if pairs and p > pairs[-1]:
            p = pairs[-1]
        pairs.append(p)
        k += 1
    tau = -1.0 + 2.0 * float(np.sum(pairs))
    total = m * n
    tau = max(tau, 1.0 / math.log10(total))
    return total / tau


def ess_bulk(draws: np.ndarray) -> float:
    """Bulk ESS: the ESS of the rank-normalised split chains."""
    x = split_chains(draws)
    if not np.all(np.isfinite(x)):
        return math.nan
    return ess(rank_normalize(x))


def ess_tail(draws: np.ndarray) -> float:
    """Tail ESS: the smaller ESS of the 5 % and 95 % quantile indicators of the split chains."""
    x = split_chains(draws)
    if not np.all(np.isfinite(x)):
        return math.nan
    q05, q95 = np.quantile(x, [0.05, 0.95])
    values = [ess((x <= q05).astype(float)), ess((x <= q95).astype(float))]
    return min(values) if all(math.isfinite(v) for v in values) else math.nan


def summarize_parameter(draws: np.ndarray) -> dict[str, float]:
    """R-hat, bulk ESS and tail ESS of one parameter (shape (chains, draws per chain))."""
    return {"r_hat": rhat(draws), "ess_bulk": ess_bulk(draws), "ess_tail": ess_tail(draws)}
