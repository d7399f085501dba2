"""The tidy dose-response reader (issue 12, point 3): every bad file is one LeptotwinError line
naming the file, the column, the line and the value; no traceback, no RuntimeWarning (pytest
turns warnings into errors), nothing silently dropped.

Before: an empty file raised pandas' EmptyDataError, a binary one UnicodeDecodeError, a NaN
response was dropped as a missing well, 1e308 responses or doses were fitted (with overflow
RuntimeWarnings) and a header without rows wrote empty results.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leptotwin.analysis.doseresponse import DoseResponseFitter, read_dose_response
from leptotwin.errors import LeptotwinError

GOOD = "curve,dose,response\nA,0,100\nA,1,80\nA,10,30\nA,100,5\nA,1000,2\n"


def _write(tmp_path: Path, content: str | bytes, name: str = "in.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", r"in\.csv: empty file"),
        (b"\n \n", r"in\.csv: empty file"),
        (b"\x9b\x00\x17\xff" * 50, r"in\.csv: binary file, not CSV text"),
        ("a,b\n1,2\n", r"in\.csv: curve: missing column \(got 'a,b'\)"),
        ("curve,dose\nA,1\n", r"in\.csv: response: missing column"),
        ("curve,dose,response\n", r"in\.csv: no data rows"),
        ("curve,dose,response\nA,1,x\n", r"response: not a number at line 2 \(got 'x'\)"),
        ("curve,dose,response\nA,0,1\nA,10 nM,2\n", r"dose: not a number at line 3 \(got '10 nM'"),
        ("curve,dose,response\nA,1,nan\nA,2,3\n", r"response: not a number at line 2 \(got 'nan'"),
        ("curve,dose,response\nA,1,NA\n", r"response: not a number at line 2 \(got 'NA'\)"),
        ("curve,dose,response\nA,1,2\nA,2,\n", r"response: empty response cell at line 3"),
        ("curve,dose,response\nA,1,2\n\nA,,3\n", r"dose: empty dose cell at line 4"),
        ("curve,dose,response\nA,-1,3\n", r"dose: negative dose at line 2 \(got -1\.0\)"),
        ("curve,dose,response\nA,1e308,3\n", r"dose: beyond 1e\+15 at line 2 \(got 1e\+308\)"),
        ("curve,dose,response\nA,1,1e308\n", r"response: not a finite number .* \(got 1e\+308\)"),
        ("curve,dose,response\nA,1,-inf\n", r"response: not a finite number .* \(got -inf\)"),
        ("curve,dose,response\nA,1,1e999\n", r"response: not a finite number .* \(got inf\)"),
        ("curve,dose,response\nA,True,1\n", r"dose: not a number at line 2 \(got 'True'\)"),
        ("curve,dose,response\n,1,1\n", r"curve: missing curve label at line 2"),
        ("curve,dose,response\nA,1,2\nB,1,2,4\n", r"cannot read the table"),
        ("curve,dose,response\nA,1,2,9\nB,1,2,4\n", r"more cells than the header"),
        ('curve,dose,response\nA,1,"2\n', r"cannot read the table"),
        ("curve,dose,dose,response\nA,1,1,5\n", r"dose: duplicated column header"),
        ("curve,dose,response\nA,1,1_000\n", r"response: not a number .*'1_000'"),
    ],
)
def test_bad_file_is_one_line_naming_file_column_line_value(
    tmp_path: Path, content: str | bytes, pattern: str
) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(LeptotwinError, match=pattern) as info:
        read_dose_response(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_good_files_in_the_forms_labs_write(tmp_path: Path) -> None:
    plain = read_dose_response(_write(tmp_path, GOOD))
    assert list(plain.columns) == ["curve", "dose", "response"]
    assert plain["dose"].dtype == float and plain["response"].dtype == float
    bom = read_dose_response(_write(tmp_path, "\ufeff" + GOOD, "bom.csv"))
    pd.testing.assert_frame_equal(bom, plain)
    utf16 = read_dose_response(_write(tmp_path, GOOD.encode("utf-16"), "u16.csv"))
    pd.testing.assert_frame_equal(utf16, plain)
    semi = GOOD.replace(",", ";").replace(";80", ";80,0")  # European Excel: ; and decimal ,
    pd.testing.assert_frame_equal(read_dose_response(_write(tmp_path, semi, "semi.csv")), plain)
    spaced = read_dose_response(_write(tmp_path, GOOD.replace(",", ", "), "sp.csv"))
    pd.testing.assert_frame_equal(spaced, plain)
    labels = read_dose_response(_write(tmp_path, "curve,dose,response\n01,1,2\nNA,1,3\n", "l.csv"))
    assert labels["curve"].tolist() == ["01", "NA"]  # labels stay text, "NA" is a name


def test_a_quoted_multiline_label_is_reported_on_its_own_line(tmp_path: Path) -> None:
    text = 'curve,dose,response\n"two\nlines",1,2\nB,1,oops\n'
    with pytest.raises(LeptotwinError, match="line 4"):
        read_dose_response(_write(tmp_path, text))


def test_fitter_refuses_absurd_values_without_runtime_warnings() -> None:
    """The DataFrame path too: 1e308 or inf responses and doses are refused up front (they
    overflowed inside the fit and the plot with RuntimeWarnings)."""
    df = pd.read_csv(io.StringIO(GOOD)).astype({"dose": float, "response": float})
    for col, value, pattern in (
        ("response", 1e308, r"response: not a finite number within ±1e\+15 at row 1"),
        ("response", np.inf, r"response: not a finite number"),
        ("dose", 1e308, r"dose: beyond 1e\+15 at row 1"),
    ):
        bad = df.copy()
        bad.loc[1, col] = value
        with pytest.raises(LeptotwinError, match=pattern):
            DoseResponseFitter().fit(bad)
    df.loc[1, "response"] = np.nan  # a missing well in a DataFrame stays allowed
    assert DoseResponseFitter().fit(df).qc_.loc["A", "n_obs"] == 4
