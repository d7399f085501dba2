"""Property tests of the ELISA reader and fitter (issue 12: 1e308 responses or dilutions gave raw
RuntimeWarnings). For any well table a plate can hold, and for plate exports with any cell
spoiled: a fit, a figure and finite concentrations, or one LeptotwinError; never another
exception and no RuntimeWarning (pytest turns warnings into errors).

The layout file's own grammar is fuzzed in ``tests/formats/test_layout_properties.py``; here the
numbers that reach the fit vary over every magnitude the readers let through.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.figure import Figure

from leptotwin.analysis.standard_curve import MAX_OD, StandardCurveFitter, read_elisa
from leptotwin.errors import LeptotwinError

pytestmark = pytest.mark.fuzz

# every magnitude the layout reader lets through (dilution < 1e9, concentration < 1e12 pg/mL)
DILUTIONS = st.one_of(
    st.sampled_from([1.0, 2.0, 10.0, 5e-324, 1e-300, 1e-12, 0.5, 1e6, 999999999.0]),
    st.floats(min_value=1e-300, max_value=1e9 - 1, allow_nan=False),
)
ODS = st.one_of(
    st.floats(min_value=-MAX_OD, max_value=MAX_OD, allow_nan=False),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 4.0, MAX_OD, -MAX_OD, float("nan"), 1e-300]),
)


@st.composite
def well_tables(draw: st.DrawFn) -> pd.DataFrame:
    """Standards (geometric series or any positive levels), blanks and samples, on 1-2 plates,
    with ODs from a 4PL with noise or anywhere in the readers' range."""
    rows = []
    for plate in ("P1", "P2")[: draw(st.integers(1, 2))]:
        n_levels = draw(st.integers(1, 8))
        top = draw(st.one_of(st.floats(1e-3, 1e11), st.floats(1e-300, 1e12 * (1 - 1e-15))))
        ratio = draw(st.floats(min_value=1.0001, max_value=1e3))
        levels = top / ratio ** np.arange(n_levels)
        reps = draw(st.integers(1, 3))
        curve = draw(st.booleans())
        a, d = draw(ODS), draw(ODS)
        for conc in [*levels, *([0.0] * draw(st.integers(0, 2)))]:
            for _ in range(reps):
                mid = levels[len(levels) // 2]
                od = a + (d - a) * conc / (conc + mid) if curve else draw(ODS)
                od = float(np.clip(od, -MAX_OD, MAX_OD)) if np.isfinite(od) else np.nan
                rows.append(
                    {"plate": plate, "role": "standard" if conc > 0 else "blank",
                     "nominal_pg_mL": conc, "signal": od, "flag": ""}
                )  # fmt: skip
        for k in range(draw(st.integers(0, 3))):
            dilution = draw(DILUTIONS)
            for _ in range(draw(st.integers(2, 3))):
                rows.append(
                    {"plate": plate, "role": "sample", "sample_id": f"s{k}",
                     "dilution": dilution, "signal": draw(ODS),
                     "flag": draw(st.sampled_from(["", "", "overflow"]))}
                )  # fmt: skip
    return pd.DataFrame(rows)


@given(
    wells=well_tables(),
    model=st.sampled_from(["4PL", "5PL"]),
    weights=st.sampled_from(["1/y^2", "1/y", None]),
)
def test_any_well_table_fits_or_raises_a_leptotwin_error(wells, model, weights):
    try:
        fit = StandardCurveFitter(model=model, weights=weights).fit(wells)
    except LeptotwinError as exc:
        assert "\n" not in str(exc)
        return
    samples = fit.samples_  # an interval may be unbounded (inf), a concentration may not
    for col in ("conc_in_well_pg_mL", "conc_pg_mL", "conc_lower_pg_mL"):
        assert not np.isinf(samples[col].to_numpy(float)).any(), col
    assert not np.isinf(fit.standards_["backfit_pg_mL"].to_numpy(float)).any()
    fit.plot(ax=Figure().add_subplot())
    fit.summary  # noqa: B018 - the property: computing it raises nothing


# -- files: an export written by the virtual ELISA, one cell spoiled ---------------------------


@pytest.fixture(scope="module")
def elisa_files(tmp_path_factory):
    from leptotwin.assays.elisa import simulate_elisa, write_elisa

    folder = tmp_path_factory.mktemp("elisa")
    samples = pd.DataFrame({"sample_id": ["a", "b"], "true_pg_mL": [80.0, 400.0], "dilution": 1.0})
    wells = simulate_elisa(samples, rng=np.random.default_rng(5))
    plate, layout = write_elisa(wells, folder / "export.csv", folder / "layout.csv")
    return folder, plate.read_text(encoding="utf-8"), layout.read_text(encoding="utf-8")


CELLS = st.one_of(
    st.sampled_from(["", "OVER", "1e308", "-1e308", "9.9e14", "11", "-11", "10", "nan", "inf",
                     "0", "-0.2", "1,5", "abc", "5e-324", "1e-300", "999999999", "2e9", "1e11",
                     "standard", "sample", "blank", "empty", "E01", "E02", "A01", "Z99"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=5),
)  # fmt: skip


def _spoil(text: str, line: int, column: int, value: str) -> str:
    lines = text.splitlines()
    i = line % len(lines)
    cells = lines[i].split(",")
    cells[column % len(cells)] = value
    lines[i] = ",".join(cells)
    return "\n".join(lines) + "\n"


@given(
    which=st.sampled_from(["plate", "layout", "both"]),
    spots=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 12), CELLS), min_size=1,
                   max_size=3),
)  # fmt: skip
def test_a_spoiled_export_or_layout_reads_and_fits_or_raises(elisa_files, which, spots):
    folder, plate_text, layout_text = elisa_files
    for line, column, value in spots:
        if which in ("plate", "both"):
            plate_text = _spoil(plate_text, line, column, value)
        if which in ("layout", "both"):
            layout_text = _spoil(layout_text, line, column, value)
    plate, layout = folder / "p.csv", folder / "l.csv"
    plate.write_text(plate_text, encoding="utf-8", errors="surrogatepass")
    layout.write_text(layout_text, encoding="utf-8", errors="surrogatepass")
    try:
        fit = StandardCurveFitter().fit(read_elisa(plate, layout))
    except LeptotwinError as exc:
        assert "\n" not in str(exc)
        return
    assert not np.isinf(fit.samples_["conc_pg_mL"].to_numpy(float)).any()
    fit.plot(ax=Figure().add_subplot())
