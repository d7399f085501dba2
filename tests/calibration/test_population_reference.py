"""FOCE-I population PK against an outside answer: NONMEM 7.4.3 (``METHOD=COND INTER``).

The reference is the nlmixr2 team's NONMEM validation set (repository nlmixr2/nlmixr2test,
``nonmem/solved``; origin, commit and the published numbers in
``tests/data/nlmixr2test-oral-1cpt/README.md``): simulated one-compartment oral data, 120
subjects, four dose levels; runN023 fits the single-dose part (2273 samples), runN024 the
multiple-dose part (4674 samples, seven doses each). Their model is ours exactly: ADVAN2 TRANS2,
CL = exp(θ1 + η1), V = exp(θ2 + η2), KA = exp(θ3 + η3), diagonal Ω, and
``Y = IPRED + IPRED*THETA(4)*EPS(1)`` with σ² fixed at 1 (``error="proportional_linear"``,
``sigma_prop`` = θ4). The final estimates and the OFV are read from NONMEM's own ``.ext`` files
(the ``ITERATION -1000000000`` row); its OFV omits n ln 2π, as ours does, so the two compare
directly.

Tolerances. NONMEM ran with NSIG=3 (3 significant digits asked, 3.1 and 3.0 reached), so its
estimates are known to about 0.1 %; FOCE-I implementations that reach the same minimum agree on
θ to 1–2 % and on ω² to 5–10 % (a second NONMEM run of N023 through babelmixr2, in the same
repository, differs from it by at most 0.05 % in θ and 0.01 % in ω²). We ask θ and σ within 1 %,
ω² within 5 % and the OFV within 0.05 (the OFV is flat at the minimum, so a difference in the
3rd digit of an estimate moves it far less). Our fit lands within 0.02 % of NONMEM on every θ,
ω² and σ and within 0.001 of its OFV. Standard errors are not compared:
NONMEM's default covariance step is the sandwich R⁻¹SR⁻¹, ours the R matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.calibration import population as pop
from leptotwin.calibration.population import fit_population_pk, simulate_population_pk
from refdata import DATA

REF = DATA / "nlmixr2test-oral-1cpt"


def _nonmem_final(run: str) -> dict[str, float]:
    """Final estimates of a NONMEM ``.ext`` file (its ``ITERATION -1000000000`` row)."""
    lines = (REF / f"{run}.ext").read_text(encoding="utf-8").splitlines()
    assert "First Order Conditional Estimation with Interaction" in lines[0]
    header = lines[1].split()
    row = next(ln.split() for ln in lines[2:] if ln.split()[0] == "-1000000000")
    return dict(zip(header[1:], map(float, row[1:]), strict=True))


def _subset(single_dose: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows NONMEM read (``IGNORE (SD.EQ.0)`` or ``IGNORE (SD.EQ.1)``) as our tables."""
    d = pd.read_csv(REF / "ORAL_1CPT.csv")
    d = d[d["SD"] == (1 if single_dose else 0)]
    obs = d[(d["EVID"] == 0) & (d["MDV"] == 0)]
    dose = d[d["EVID"] == 1]
    data = pd.DataFrame({"subject": obs["ID"], "time_h": obs["TIME"], "concentration": obs["DV"]})
    doses = pd.DataFrame({"subject": dose["ID"], "time_h": dose["TIME"], "dose_mg": dose["AMT"]})
    return data, doses


@pytest.mark.parametrize(
    ("run", "single_dose", "n_obs"),
    [("runN023", True, 2273), ("runN024", False, 4674)],
)
def test_foce_i_matches_nonmem_on_the_nlmixr2test_oral_one_compartment_data(
    run, single_dose, n_obs
):
    ref = _nonmem_final(run)
    data, doses = _subset(single_dose)
    fit = fit_population_pk(data, doses=doses, error="proportional_linear", covariance=False)
    assert fit.converged
    assert (fit.n_subjects, fit.n_observations) == (120, n_obs)  # NONMEM's counts (.lst)
    est = fit.estimates()
    for name, j in (("CL", 1), ("V", 2), ("ka", 3)):  # θ1..θ3 are ln CL, ln V, ln KA
        assert est[name] == pytest.approx(np.exp(ref[f"THETA{j}"]), rel=0.01), name
    assert est["sigma_prop"] == pytest.approx(ref["THETA4"], rel=0.01)
    for name, j in (("CL", 1), ("V", 2), ("ka", 3)):
        assert est[f"omega2_{name}"] == pytest.approx(ref[f"OMEGA({j},{j})"], rel=0.05), name
    assert fit.ofv == pytest.approx(ref["OBJ"], abs=0.05)


@pytest.mark.parametrize(("run", "single_dose"), [("runN023", True), ("runN024", False)])
def test_our_objective_at_nonmems_estimates_is_nonmems_objective(run, single_dose):
    """The FOCE-I objective itself (Laplace at η̂ with the interaction Hessian), without the
    optimiser: evaluated at NONMEM's final estimates it is NONMEM's OFV (agreement found:
    ~1e-7 of 19365 and 43707), so the two implement the same approximation."""
    ref = _nonmem_final(run)
    data, doses = _subset(single_dose)
    model = pop._Model(
        pop._prepare(data, doses, None, None, "proportional_linear", 1.0),
        "proportional_linear",
        np.arange(3),
        False,
        1.0,
    )
    p = np.r_[
        [ref[f"THETA{j}"] for j in (1, 2, 3)],
        np.log([ref[f"OMEGA({j},{j})"] for j in (1, 2, 3)]),
        np.log(ref["THETA4"]),
    ]
    with np.errstate(all="ignore"):  # trial steps of the inner problem may over- or underflow
        ofv, _ = model.ofv(p, np.zeros((120, 3)))
    assert ofv == pytest.approx(ref["OBJ"], abs=1e-3)


# ---------------------------------------------------------------------------------------------
# the proportional_linear error model (added for this reference)


def _models(df: pd.DataFrame, doses: float):
    idx = np.arange(3)
    lin = pop._Model(
        pop._prepare(df, doses, None, None, "proportional_linear", 1.0),
        "proportional_linear",
        idx,
        False,
        1.0,
    )
    comb = pop._Model(
        pop._prepare(df, doses, None, None, "combined", 1.0), "combined", idx, False, 1.0
    )
    return lin, comb


def test_proportional_linear_is_the_combined_model_without_its_additive_part():
    rng = np.random.default_rng(11)
    times = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0])
    df = simulate_population_pk(
        n_subjects=8,
        times_h=times,
        dose_mg=100.0,
        theta={"CL": 10.0, "V": 50.0, "ka": 1.0},
        omega={"CL": 0.09, "V": 0.04, "ka": 0.16},
        sigma=0.15,
        rng=rng,
        error="proportional_linear",
    )
    assert (df["concentration"] >= 0).all()
    lin, comb = _models(df, 100.0)
    head = np.r_[np.log([9.0, 55.0, 1.2]), np.log([0.1, 0.05, 0.2])]
    p_lin = np.r_[head, np.log(0.15)]
    p_comb = np.r_[head, np.log(0.15), np.log(1e-9)]  # a = 1e-9 mg/L: negligible
    eta0 = np.zeros((8, 3))
    v_lin, g_lin, e_lin = lin.ofv_grad(p_lin, eta0)
    v_comb, g_comb, e_comb = comb.ofv_grad(p_comb, eta0)
    assert v_lin == pytest.approx(v_comb, rel=1e-10)
    np.testing.assert_allclose(e_lin, e_comb, atol=1e-7)
    np.testing.assert_allclose(g_lin, g_comb[:-1], rtol=1e-5, atol=1e-5)
    # the OFV gradient is the total derivative: central differences of the OFV itself
    h = 1e-5
    fd = np.empty(p_lin.size)
    for j in range(p_lin.size):
        e = np.zeros(p_lin.size)
        e[j] = h
        fd[j] = (lin.ofv(p_lin + e, e_lin)[0] - lin.ofv(p_lin - e, e_lin)[0]) / (2 * h)
    np.testing.assert_allclose(g_lin, fd, rtol=1e-4, atol=1e-3)


def test_proportional_linear_recovers_known_values():
    rng = np.random.default_rng(5)
    times = np.array([0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 24.0])
    theta = {"CL": 10.0, "V": 50.0, "ka": 1.0}
    omega = {"CL": 0.09, "V": 0.04, "ka": 0.16}
    df = simulate_population_pk(
        n_subjects=100,
        times_h=times,
        dose_mg=100.0,
        theta=theta,
        omega=omega,
        sigma=0.1,
        rng=rng,
        error="proportional_linear",
    )
    fit = fit_population_pk(df, doses=100.0, error="proportional_linear")
    assert fit.converged and fit.covariance_ok
    assert list(fit.sigma["parameter"]) == ["sigma_prop"]
    est = fit.estimates()
    for p in theta:
        assert est[p] == pytest.approx(theta[p], rel=0.1), p
        assert est[f"omega2_{p}"] == pytest.approx(omega[p], rel=0.4), p
    assert est["sigma_prop"] == pytest.approx(0.1, rel=0.1)
    row = fit.sigma.iloc[0]
    assert row["lower"] < 0.1 < row["upper"]
