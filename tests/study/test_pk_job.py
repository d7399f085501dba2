"""``leptotwin pk``: every option checked before work starts, sizes refused up front with the
memory needed and available, and doses far outside the studied range warned about (issue 12)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import yaml

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.study import _memory
from leptotwin.study.pk import (
    DoseRangeWarning,
    PKJob,
    dose_range_messages,
    dose_warnings_printed,
    simulate_job,
)
from leptotwin.study.protocol_schema import load_packaged_protocol

BASE = ["pk", "--drug", "osimertinib", "--species", "mouse", "--regimen", "25 mg/kg QD"]
SMALL = ["--days", "1", "--subjects", "2"]


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def eight_gib(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 8 * 2**30)


def test_step_1e_9_h_is_refused_with_the_memory_it_needs_and_what_is_there(
    run_cli, tmp_path, eight_gib
):
    """Issue 12: ``--step-h 1e-9`` tried to allocate 2.4 TiB and died with a MemoryError."""
    out = tmp_path / "pk"
    code, stdout, err = run_cli(*BASE, "--step-h", "1e-9", "--out", str(out))
    assert code == 2 and stdout == ""
    line = _one_line(err)
    assert line.startswith("leptotwin: error: --subjects/--days/--step-h: 1,000 subjects × ")
    assert "336,000,000,001 time points (14 d every 1e-09 h)" in line
    assert "PiB of memory; 8 GiB is available" in line
    assert "expected fewer subjects, fewer days or a larger --step-h" in line
    assert not out.exists()


def test_days_1e308_is_one_line_not_a_traceback(run_cli, tmp_path):
    """Issue 12: ``--days 1e308`` raised 'Maximum allowed size exceeded' from numpy."""
    code, _, err = run_cli(*BASE, "--days", "1e308", "--out", str(tmp_path / "pk"))
    assert code == 2
    line = _one_line(err)
    assert "more than 1e+308 time points (1e+308 d every 1 h)" in line
    assert "need more memory than any computer has" in line and "is available" in line


def test_many_subjects_refused_before_drawing_them(run_cli, tmp_path, eight_gib):
    code, _, err = run_cli(*BASE, "--subjects", "100000000", "--out", str(tmp_path / "pk"))
    assert code == 2
    assert "100,000,000 subjects × 337 time points" in _one_line(err)
    assert "TiB of memory; 8 GiB is available" in err


def test_a_run_that_fits_is_not_refused(run_cli, tmp_path, monkeypatch):
    """The estimate for 2 subjects × 25 time points is a few kB: 1 MiB available is enough."""
    monkeypatch.setattr(_memory, "available_bytes", lambda: 2**20)
    code, _, err = run_cli(*BASE, *SMALL, "--out", str(tmp_path / "pk"))
    assert code == 0, err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--days", "nan", "--days: days must be a finite number > 0 (got nan)"),
        ("--days", "inf", "--days: days must be a finite number > 0 (got inf)"),
        ("--days", "-1", "--days: days must be a finite number > 0 (got -1.0)"),
        ("--days", "0", "--days: days must be a finite number > 0 (got 0.0)"),
        ("--step-h", "nan", "--step-h: time step (h) must be a finite number > 0 (got nan)"),
        ("--step-h", "inf", "--step-h: time step (h) must be a finite number > 0 (got inf)"),
        ("--step-h", "-0.5", "--step-h: time step (h) must be a finite number > 0 (got -0.5)"),
        ("--step-h", "25", "--step-h: time step is longer than the simulated time (got 25.0)"),
        ("--subjects", "0", "--subjects: need at least one subject (got 0)"),
        ("--subjects", "-5", "--subjects: need at least one subject (got -5)"),
        ("--seed", "-1", "--seed: seed must be >= 0 (got -1)"),
    ],
)
def test_every_numeric_option_is_checked(run_cli, tmp_path, option, value, message):
    """``--step-h inf`` used to write a one-row table; ``--seed -1`` raised a numpy ValueError."""
    args = [*BASE, "--days", "1", "--subjects", "2"]
    args = [a for a in args]
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    out = tmp_path / "pk"
    code, _, err = run_cli(*args, "--out", str(out))
    assert code == 2
    assert _one_line(err).startswith(f"leptotwin: error: {message}")
    assert not out.exists()


def test_memory_estimate_covers_the_measured_peak(tmp_path):
    """The per-point constant is an upper bound of what tracemalloc measures: the simulation,
    the tidy table and the CSV written from it."""
    import tracemalloc

    from leptotwin.study import pk

    job = PKJob("erlotinib", "mouse", "50 mg/kg QD", days=7.0, subjects=300, step_h=0.5)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        frame = simulate_job(job).to_frame()
        frame.to_csv(tmp_path / "pk.csv", index=False)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    points = job.subjects * pk._n_times(job)
    assert peak < points * pk._ARRAYS_PER_POINT * 8


# -- doses far outside the studied range ---------------------------------------------------------


def test_80_mg_flat_in_a_mouse_warns_with_the_dose_per_kg(run_cli, tmp_path):
    """Issue 12: ``--species mouse --regimen "80 mg QD"`` (3.2 g/kg for a 25 g mouse) passed
    silently."""
    args = [*BASE[:-1], "80 mg QD", *SMALL]
    code, stdout, err = run_cli(*args, "--out", str(tmp_path / "pk"))
    assert code == 0
    assert _one_line(err) == (
        "leptotwin: warning: osimertinib 80 mg per dose is 3,200 mg/kg in a 25 g mouse "
        "(catalogue), 128-fold above the highest dose studied in mice (1-25 mg/kg); the PK "
        "model was not checked there (sources: leptotwin catalog --drug osimertinib)"
    )
    assert stdout.startswith("wrote ")


def test_no_warning_is_printed_when_the_command_fails(run_cli, tmp_path):
    out = tmp_path / "pk"
    out.mkdir()
    (out / "keep.csv").write_text("x")
    code, _, err = run_cli(*BASE[:-1], "80 mg QD", *SMALL, "--out", str(out))
    assert code == 2
    assert _one_line(err).startswith("leptotwin: error: --out: output folder already holds")


def test_simulate_job_warns_in_python():
    job = PKJob("erlotinib", "mouse", "1000 mg/kg QD", days=1.0, subjects=2)
    with pytest.warns(DoseRangeWarning, match=r"erlotinib 1000 mg/kg per dose is 10-fold above"):
        simulate_job(job)


@pytest.mark.parametrize(
    ("drug", "species", "regimen", "start"),
    [
        ("osimertinib", "mouse", "0.1 mg/kg QD", "osimertinib 0.1 mg/kg per dose is 10-fold below"),
        ("osimertinib", "human", "25 mg/kg QD", "osimertinib 25 mg/kg per dose is 1,750 mg in a "),
        ("cetuximab", "human", "4000 mg iv once", "cetuximab 4000 mg per dose is 2,312 mg/m2 in"),
        ("alectinib", "human", "600 mg BID; 6000 mg once", "alectinib 6000 mg per dose is 6.67"),
    ],
)
def test_dose_range_messages(drug, species, regimen, start):
    (message,) = dose_range_messages(drug, species, regimen)
    assert message.startswith(start), message


def test_studied_doses_cover_every_dosable_drug_and_species():
    """Each drug with an administration route in a species has a studied range there, in one
    of the units the comparison understands, lowest below highest, with a source."""
    cat = load_catalog()
    block = cat.in_vivo["studied_doses"].parameters
    for name, drug in cat.drugs.items():
        for species, pk in drug.pk.items():
            if pk.formed_from is not None:  # a metabolite is not dosed
                continue
            lo, hi = block[f"{species}_min_{name}"], block[f"{species}_max_{name}"]
            assert lo.unit == hi.unit and lo.unit in ("mg", "mg/kg", "mg/m2"), name
            assert 0 < lo.value < hi.value, name
            assert lo.source and hi.source


def _study_regimens():
    exposure = load_packaged_protocol("pk_exposure")["regimens"]
    yield from ((r["drug"], r["species"], r["regimen"]) for r in exposure)
    for drug, regimen in load_packaged_protocol("lmc_mouse")["regimens"].items():
        yield drug, "mouse", regimen
    human = load_packaged_protocol("human_translation")
    for r in human["schedule_sweep"]["regimens"]:
        yield r["drug"], "human", r["regimen"]


@pytest.mark.parametrize(("drug", "species", "regimen"), list(_study_regimens()))
def test_the_study_s_own_regimens_are_inside_the_studied_ranges(drug, species, regimen):
    assert dose_range_messages(drug, species, regimen) == []


def test_dose_warnings_printed_passes_other_warnings_on():
    said = []
    with pytest.warns(RuntimeWarning, match="other"):
        with dose_warnings_printed(said.append):
            warnings.warn("far", DoseRangeWarning, stacklevel=1)
            warnings.warn("other", RuntimeWarning, stacklevel=1)
    assert said == ["leptotwin: warning: far"]


def test_a_catalogue_range_in_a_unit_it_cannot_compare_is_named(tmp_path):
    from importlib import resources

    src = resources.files("leptotwin.catalog") / "data"
    for f in src.iterdir():
        if f.name.endswith(".yaml"):
            (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    path = tmp_path / "in_vivo.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["studied_doses"]["parameters"]["mouse_max_erlotinib"]["unit"] = "µmol/kg"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    cat = load_catalog(tmp_path)
    with pytest.raises(LeptotwinError, match=r"studied_doses.mouse_min/max_erlotinib.*µmol/kg"):
        dose_range_messages("erlotinib", "mouse", "50 mg/kg QD", catalog=cat)


def test_times_are_the_requested_grid():
    job = PKJob("erlotinib", "mouse", "50 mg/kg QD", days=1.0, subjects=1, step_h=0.25)
    res = simulate_job(job)
    np.testing.assert_array_equal(res.t_h, np.arange(97) * 0.25)


def test_a_table_larger_than_the_free_disk_is_refused_before_simulating(
    run_cli, tmp_path, monkeypatch
):
    """2 subjects × 25 time points make a pk.csv of about 5 kB: 1 kB free is too little."""
    monkeypatch.setattr(_memory, "free_disk_bytes", lambda folder: 1024)
    out = tmp_path / "pk"
    code, _, err = run_cli(*BASE, *SMALL, "--out", str(out))
    assert code == 2
    assert _one_line(err) == (
        "leptotwin: error: --subjects/--days/--step-h: pk.csv of 2 subjects × 25 time points "
        f"would write about 4.69 KiB; 1 KiB is free on the disk of {out}; expected fewer "
        "subjects, fewer days or a larger --step-h"
    )
    assert not out.exists()


def test_free_disk_of_a_folder_not_created_yet(tmp_path):
    assert _memory.free_disk_bytes(tmp_path / "a" / "b") == _memory.free_disk_bytes(tmp_path)
