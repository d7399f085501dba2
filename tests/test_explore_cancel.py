"""A view is cancelled, and reports its progress, inside an arm (issue 18).

:func:`leptotwin.explore.compute_view` simulates each arm in chunks of
:data:`~leptotwin.explore._compute.CHUNK_SUBJECTS` subjects (per-subject streams: the same
numbers as one call), reporting ``progress`` between them; ``cancelled()`` is asked at every
growth step of the engine. Tiny cohorts with chunks of 2 subjects; the caches are emptied around
each test.
"""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

import leptotwin.explore._compute as compute
from leptotwin.explore import compute_view, parse_spec, view_tables
from leptotwin.explore._compute import ViewCancelled
from leptotwin.model._scenario import parameter_set_bounds

#: One patients' arm, 6 patients, two weeks.
PATIENTS = {
    "species": "human",
    "arms": [{"name": "alec + osi", "regimens": {"alectinib": "600 mg BID",
                                                  "osimertinib": "80 mg QD"}}],
    "n_per_arm": 6,
    "days": 14,
    "seed": 3,
    "uncertainty": "between-subject",
}  # fmt: skip
#: Two mouse arms, 5 mice each, one week of treatment.
MICE = {
    "species": "mouse",
    "inoculum": "A925L/AR",
    "arms": [
        {"name": "alectinib", "regimens": {"alectinib": "20 mg/kg QD"}},
        {"name": "alec + osi", "regimens": {"alectinib": "20 mg/kg QD",
                                            "osimertinib": "25 mg/kg QD"}},
    ],
    "n_per_arm": 5,
    "days": 14,
    "seed": 11,
}  # fmt: skip
VIEWS = {
    "patients": PATIENTS,
    "mice": MICE,
    "mice, counterfactuals, posterior median": {
        **MICE,
        "mir449a_restored": True,
        "no_areg": True,
        "uncertainty": "posterior-median",
    },
    # 12 patients over the explorer's 10 parameter sets: chunks inside and across the sets
    "patients, posterior x between-subject": {
        **PATIENTS,
        "n_per_arm": 12,
        "uncertainty": "posterior",
    },
}


def _clear() -> None:
    compute._arm_cohort.cache_clear()
    compute._arm_view.cache_clear()


@pytest.fixture(autouse=True)
def _empty_caches():
    _clear()
    yield
    _clear()


def _calls(monkeypatch) -> list[tuple[int, int]]:
    """Records the subject range of each engine call."""
    seen: list[tuple[int, int]] = []
    real = compute.simulate_lmc_subjects

    def spy(*args, **kwargs):
        seen.append((kwargs["start"], kwargs["stop"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(compute, "simulate_lmc_subjects", spy)
    return seen


def _tables(spec) -> dict[str, bytes]:
    return {k: t.to_csv(index=False).encode() for k, t in view_tables(spec).items()}


@pytest.mark.parametrize("name", list(VIEWS))
def test_chunked_arms_equal_one_call(name, monkeypatch):
    """Chunks of 2 subjects give the numbers and tables of one call per arm, byte for byte."""
    spec = parse_spec(VIEWS[name])
    monkeypatch.setattr(compute, "CHUNK_SUBJECTS", spec.n_per_arm)
    whole = pickle.dumps(compute_view(spec))
    whole_tables = _tables(spec)
    whole_obs = view_tables(spec)["observations"]
    _clear()
    monkeypatch.setattr(compute, "CHUNK_SUBJECTS", 2)
    calls = _calls(monkeypatch)
    assert pickle.dumps(compute_view(spec)) == whole
    assert len(calls) > len(spec.arms)  # it was chunked
    assert _tables(spec) == whole_tables
    pd.testing.assert_frame_equal(view_tables(spec)["observations"], whole_obs)


def test_cancel_after_first_chunk_caches_nothing(monkeypatch):
    """A one-arm view cancelled after its first chunk stops there (ViewCancelled), caches no
    arm, and computed again runs whole and equals the view never cancelled."""
    spec = parse_spec(PATIENTS)
    reference = pickle.dumps(compute_view(spec))
    _clear()
    monkeypatch.setattr(compute, "CHUNK_SUBJECTS", 2)
    calls = _calls(monkeypatch)
    flag = {"cancel": False}

    def progress(done: int, total: int) -> None:
        if done >= 2:
            flag["cancel"] = True  # the page's cancel button, pressed during the arm

    with pytest.raises(ViewCancelled):
        compute_view(spec, progress=progress, cancelled=lambda: flag["cancel"])
    assert calls == [(0, 2)]
    assert compute._arm_cohort.cache_info().currsize == 0
    assert compute._arm_view.cache_info().currsize == 0
    calls.clear()
    assert pickle.dumps(compute_view(spec, cancelled=lambda: False)) == reference
    assert calls == [(0, 2), (2, 4), (4, 6)]
    assert compute._arm_cohort.cache_info().currsize == 1


def test_cancel_inside_one_engine_call(monkeypatch):
    """An arm simulated in one call stops inside its time loop (not at its end): the engine is
    called once, asked far fewer times than it has steps, and nothing is cached."""
    spec = parse_spec(PATIENTS)
    calls = _calls(monkeypatch)
    asked: list[int] = []

    def cancel_after_5() -> bool:
        asked.append(1)
        return len(asked) > 5

    with pytest.raises(ViewCancelled):
        compute_view(spec, cancelled=cancel_after_5)
    assert calls == [(0, spec.n_per_arm)]
    assert len(asked) == 6  # once before the arm, then 5 of the engine's 56 steps (14 d, 6 h)
    assert compute._arm_cohort.cache_info().currsize == 0
    assert compute._arm_view.cache_info().currsize == 0


def test_posterior_cancelled_between_parameter_sets(monkeypatch):
    """Posterior bands stop in their first parameter set, whatever the chunk size."""
    spec = parse_spec({**PATIENTS, "n_per_arm": 12, "uncertainty": "posterior"})
    calls = _calls(monkeypatch)
    with pytest.raises(ViewCancelled):
        compute_view(spec, cancelled=lambda: len(calls) >= 1)
    first = int(parameter_set_bounds(12, compute.POSTERIOR_DRAWS)[1])
    assert calls == [(0, first)]  # the first of 10 parameter sets only
    assert compute._arm_cohort.cache_info().currsize == 0


def test_progress_counts_subjects_within_arms(monkeypatch):
    """Progress is the subjects simulated of the view's, after each chunk of each arm; an arm
    found in the cache counts as done at once."""
    spec = parse_spec(MICE)
    monkeypatch.setattr(compute, "CHUNK_SUBJECTS", 2)
    seen: list[tuple[int, int]] = []
    compute_view(spec, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 10), (2, 10), (4, 10), (5, 10), (5, 10), (7, 10), (9, 10), (10, 10)]
    seen.clear()
    compute_view(spec, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 10), (5, 10)]
