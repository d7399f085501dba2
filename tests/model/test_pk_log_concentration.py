"""ln C of the closed-form PK where its sum of exponentials cancels (issue 17): at a high mouse
clearance of osimertinib the value 24 h after a dose lies below the round-off of the terms
(the closed form returns noise, clipped to 0: ln C = -inf). ``log_concentration`` is checked
against an exact evaluation in 60-digit arithmetic (mpmath), against the closed form where that
is accurate (bit for bit), and its log-space path against the closed form on every output,
route and model kind the catalogue has."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest

import leptotwin.model.pk as pk
from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.pk import Metabolite, PKStream, draw_subjects, log_concentration
from leptotwin.model.regimen import parse_regimen

TIMES = np.array([1.0, 4.0, 24.0, 25.0, 48.0, 168.0, 169.0, 192.0, 400.0])


def regimens(text: str) -> list:
    r = parse_regimen(text)
    return list(r) if isinstance(r, tuple) else [r]


def mouse_osimertinib(cl_l_h_kg: float):
    cat = load_catalog().with_values({"osimertinib.pk.mouse.CL": cl_l_h_kg})
    p = cat.pk_parameters("osimertinib", "mouse")
    return p, draw_subjects(p, 1, iiv=False, catalog=cat)


def exact_log_plasma(p, subj, times: np.ndarray) -> np.ndarray:
    """ln C (nM) of 25 mg/kg QD from t = 0, one compartment, first-order absorption, summed
    over the doses in 60 digits."""
    mp.mp.dps = 60
    ka, f = (mp.mpf(x) for x in p.routes["oral"])
    dose = mp.mpf(25) * mp.mpf(p.body_weight_kg)
    v = mp.mpf(float(subj.V1[0]))
    k10 = mp.mpf(float(subj.CL[0])) / v
    out = []
    for t in times:
        c = mp.mpf(0)
        for d in range(int(t // 24) + 1):
            dt = mp.mpf(float(t)) - 24 * d
            c += f * dose * ka / (v * (ka - k10)) * (mp.e ** (-k10 * dt) - mp.e ** (-ka * dt))
        out.append(float(mp.log(c * mp.mpf(10) ** 6 / mp.mpf(p.mw_g_mol))))
    return np.array(out)


@pytest.mark.parametrize("cl", [1.5, 4.6, 31.0, 40.0, 100.0, 300.0, 1000.0])
def test_matches_exact_arithmetic_at_any_clearance(cl):
    p, subj = mouse_osimertinib(cl)
    got = log_concentration(subj, regimens("25 mg/kg QD"), TIMES)[0]
    np.testing.assert_allclose(got, exact_log_plasma(p, subj, TIMES), rtol=0, atol=1e-11)


def test_closed_form_cancels_where_log_space_does_not():
    """At CL = 300 L/h/kg the closed form 24 h after a dose is round-off (here clipped to 0);
    the log-space value is the exact one, about e^-30 nM."""
    p, subj = mouse_osimertinib(300.0)
    stream = PKStream(subj, regimens("25 mg/kg QD"), horizon_h=200.0, outputs=("plasma",))
    closed = np.array([stream.advance(t)[0][0] for t in (24.0, 48.0, 192.0)])
    exact = exact_log_plasma(p, subj, np.array([24.0, 48.0, 192.0]))
    with np.errstate(divide="ignore"):
        assert np.max(np.abs(np.log(closed) - exact)) > 0.1  # noise or -inf
    got = log_concentration(subj, regimens("25 mg/kg QD"), np.array([24.0, 48.0, 192.0]))[0]
    assert np.all(np.isfinite(got)) and np.all(got < -25)


CASES = [
    ("osimertinib", "mouse", "25 mg/kg QD", None),
    ("osimertinib", "mouse", "25 mg/kg QD", "AZ5104"),
    ("osimertinib", "mouse", "10 mg/kg iv QD", None),
    ("lorlatinib", "human", "100 mg QD", None),  # two compartments
    ("lorlatinib", "human", "100 mg iv BID", None),
]
GRID = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 23.0, 30.0, 100.0, 170.0, 300.0])  # no dose instant


def case(drug: str, species: str, regimen: str, metabolite: str | None, seed: int = 1):
    cat = load_catalog()
    subj = draw_subjects(
        cat.pk_parameters(drug, species), 4, rng=np.random.default_rng(seed), catalog=cat
    )
    met = None
    if metabolite is not None:
        fraction = dict(cat.metabolites_of(drug, species))[metabolite]
        met = Metabolite(cat.pk_parameters(metabolite, species), fraction, catalog=cat)
    return subj, regimens(regimen), met


def closed_form(subj, regs, met, output: str) -> np.ndarray:
    stream = PKStream(subj, regs, horizon_h=GRID[-1] + 1, metabolite=met, outputs=(output,))
    return np.stack([stream.advance(t)[0] for t in GRID], axis=1)


@pytest.mark.parametrize("output", ["plasma", "csf", "lesion"])
@pytest.mark.parametrize(("drug", "species", "regimen", "metabolite"), CASES)
def test_normal_range_is_the_closed_form_bit_for_bit(drug, species, regimen, metabolite, output):
    subj, regs, met = case(drug, species, regimen, metabolite)
    ref = np.log(closed_form(subj, regs, met, output))
    got = log_concentration(subj, regs, GRID, output=output, metabolite=met)
    assert np.array_equal(got, ref)


@pytest.mark.parametrize("output", ["plasma", "csf", "lesion"])
@pytest.mark.parametrize(("drug", "species", "regimen", "metabolite"), CASES)
def test_log_space_path_agrees_with_the_closed_form(
    drug, species, regimen, metabolite, output, monkeypatch
):
    """Every value forced through the log-space path (the compartment model, matrix
    exponentials in log space) equals the closed form's where that is accurate."""
    subj, regs, met = case(drug, species, regimen, metabolite)
    ref = np.log(closed_form(subj, regs, met, output))
    monkeypatch.setattr(pk, "LOG_SPACE_BELOW", math.inf)
    got = log_concentration(subj, regs, GRID[::-1], output=output, metabolite=met)[:, ::-1]
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-9)


def test_exact_zero_at_the_first_oral_dose_instant():
    """At the instant of the first oral dose nothing is absorbed yet: ln C = -inf exactly (the
    closed form's sum of opposite residues is 0 only up to round-off)."""
    _, subj = mouse_osimertinib(4.6)
    got = log_concentration(subj, regimens("25 mg/kg QD"), np.array([0.0, 24.0]), output="csf")
    assert got[0, 0] == -math.inf and np.isfinite(got[0, 1])


def test_bad_output_and_times_are_refused():
    _, subj = mouse_osimertinib(4.6)
    with pytest.raises(LeptotwinError, match="output: unknown PK output"):
        log_concentration(subj, regimens("25 mg/kg QD"), TIMES, output="brain")
    with pytest.raises(LeptotwinError, match="t_h"):
        log_concentration(subj, regimens("25 mg/kg QD"), np.array([-1.0, 2.0]))
