"""Cells growing in a dish: population and medium AREG over an exposure, batched over wells.

    dN/dt = (b(s) − d(s)) N                     s from the pathway at the well's drugs and AREG
    dL/dt = σ N / V − k_deg L                   L: AREG secreted into (or added to) the medium, nM

Solved with classical RK4 on a fixed step (0.25 h by default: the rates change over hours, and
halving the step changes the 72 h cell number by < 1e-6 relative; see the tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from leptotwin.model.pathway import CellState, PathwayModel

__all__ = ["CultureResult", "absolute_ic50", "grow_culture"]


@dataclass(frozen=True)
class CultureResult:
    """End of the exposure, arrays of shape (n_wells,): live cells and medium AREG (nM)."""

    live_cells: np.ndarray
    medium_areg_nM: np.ndarray


def grow_culture(
    model: PathwayModel,
    state: CellState,
    conc_nM: Mapping[str, ArrayLike],
    *,
    cells0: ArrayLike,
    areg0_nM: ArrayLike = 0.0,
    volume_mL: ArrayLike,
    hours: float,
    dt_h: float = 0.25,
    birth_scale: ArrayLike = 1.0,
) -> CultureResult:
    """Integrate the wells' populations and medium AREG over ``hours``.

    Parameters
    ----------
    model : PathwayModel
    state : CellState
        Levels may be arrays of shape (n_wells,) (one state per well).
    conc_nM : mapping of drug → array of shape (n_wells,) or scalar
        Constant nominal drug concentrations in the medium (nM); converted to free drug with the
        model's medium binding.
    cells0 : array of shape (n_wells,)
        Cells seeded.
    areg0_nM : array or scalar
        Recombinant AREG added at the start (nM).
    volume_mL : array of shape (n_wells,) or scalar
        Medium volume per well (mL).
    birth_scale : array or scalar
        Multiplier on the division rate (edge effect).
    """
    free = model.free_in_medium(conc_nM)
    n = np.asarray(cells0, dtype=float).copy()
    lig = np.broadcast_to(np.asarray(areg0_nM, dtype=float), n.shape).copy()
    secretion = model.secretion_nM_per_h(state, volume_mL)  # nM per cell per h
    k_deg = model.areg_k_deg_per_h

    rates = model.rates_given_ligand(state, free)  # the drugs' part once: constant levels

    def deriv(n_: np.ndarray, l_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        birth, death = rates(l_)
        growth = birth * birth_scale - death
        return growth * n_, secretion * n_ - k_deg * l_

    steps = max(1, round(hours / dt_h))
    h = hours / steps
    for _ in range(steps):
        k1 = deriv(n, lig)
        k2 = deriv(n + h / 2 * k1[0], lig + h / 2 * k1[1])
        k3 = deriv(n + h / 2 * k2[0], lig + h / 2 * k2[1])
        k4 = deriv(n + h * k3[0], lig + h * k3[1])
        n = n + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        lig = lig + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    return CultureResult(live_cells=np.maximum(n, 0.0), medium_areg_nM=lig)


def absolute_ic50(
    model: PathwayModel,
    state: CellState,
    drug: str,
    *,
    cells0: float,
    volume_mL: float,
    hours: float = 72.0,
    fixed_nM: Mapping[str, float] | None = None,
    areg0_nM: float = 0.0,
) -> float:
    """Noise-free absolute IC50 (nM): the dose of ``drug`` leaving 50 % of the vehicle's live cells
    after ``hours``, other agents (``fixed_nM``, recombinant AREG) in both. ``inf`` if never reached
    below 1e6 nM. Used for calibration and model-level checks, never for claims (those go through
    the virtual assay and the analysis)."""
    fixed = {k: np.asarray(v, dtype=float) for k, v in (fixed_nM or {}).items()}
    common = dict(cells0=cells0, volume_mL=volume_mL, hours=hours, areg0_nM=areg0_nM)

    def rel(doses: np.ndarray) -> np.ndarray:
        conc = {**fixed, drug: np.concatenate([[0.0], doses])}
        if drug in fixed:
            conc[drug] = conc[drug] + fixed[drug]
        live = grow_culture(model, state, conc, **common).live_cells
        return live[1:] / live[0]

    grid = np.logspace(-2, 6, 161)
    r = rel(grid)
    if r[-1] > 0.5:
        return float("inf")
    i = int(np.argmax(r < 0.5))
    lo, hi = np.log(grid[max(i - 1, 0)]), np.log(grid[i])
    return float(np.exp(brentq(lambda x: rel(np.array([np.exp(x)]))[0] - 0.5, lo, hi, xtol=1e-10)))
