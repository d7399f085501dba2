"""read_qpcr on the inputs that broke it (issue 12): negative and absurd Ct values, empty and
binary files, a header without wells; and the export layouts of the virtual cycler."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.analysis.qpcr import RelativeExpressionFitter, read_qpcr
from leptotwin.assays.qpcr import EXPORT_FLAVORS, make_qpcr_samples, simulate_qpcr, write_qpcr
from leptotwin.errors import LeptotwinError

HEAD = "Well Position,Sample Name,Target Name,CT\n"


def _file(tmp_path, text: str | bytes, name: str = "cts.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("ct", "why"),
    [
        ("-27.2", "negative: was read as a Ct of -27.2 and quantified (exit 0)"),
        ("1e308", "absurd: OverflowError in 2 ** -ddct"),
        ("0", "zero: no threshold crossing happens before the first cycle"),
        ("60.5", "past any cycling protocol"),
        ("inf", "infinite: was silently turned into Undetermined"),
        ("1e309", "overflows to inf: was silently turned into Undetermined"),
    ],
)
def test_implausible_ct_is_refused_with_file_line_well_and_value(tmp_path, ct, why):
    path = _file(tmp_path, HEAD + f"A1,S1,AREG,27.1\nB2,S1,AREG,{ct}\n")
    with pytest.raises(LeptotwinError) as err:
        read_qpcr(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: line 3, well B2, column Ct: Ct outside the plausible range")
    assert f"(got {ct!r})" in msg and "above 0 and at most 60 cycles" in msg, why


def test_text_python_would_take_as_a_number_is_refused(tmp_path):
    """float() reads '2_7' as 27 and ' 0x1b' fails; only plain decimal numbers are Ct values."""
    for cell in ("2_7", "27.1.2", "twenty"):
        with pytest.raises(LeptotwinError, match="non-numeric Ct"):
            read_qpcr(_file(tmp_path, HEAD + f"A1,S1,AREG,{cell}\n"))


def test_ct_range_applies_to_tables_given_in_python():
    data = pd.DataFrame(
        {
            "sample": ["a", "a", "b", "b"],
            "group": ["P", "P", "R", "R"],
            "target": ["AREG", "GAPDH"] * 2,
            "ct": [27.0, -18.0, 25.0, 18.0],
        }
    )
    with pytest.raises(LeptotwinError, match=r"row 1, column Ct: Ct outside the plausible range"):
        RelativeExpressionFitter("GAPDH", "P").fit(data)


def test_undetermined_markers_stay_undetermined(tmp_path):
    text = HEAD + "A1,S1,AREG,Undetermined\nA2,S1,AREG,NaN\nA3,S1,AREG,\nA4,S1,AREG,30.0\n"
    frame = read_qpcr(_file(tmp_path, text))
    assert frame["flag"].tolist() == ["undetermined", "undetermined", "missing", "ok"]
    assert frame["ct"].isna().tolist() == [True, True, True, False]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty file"),
        (b"  \n\n", "empty file"),
        (bytes(range(256)) * 4, "binary file"),
        (b"\xff\xfe\x41", "not a text file"),  # UTF-16 mark and an odd byte: UnicodeDecodeError
        (HEAD.encode(), "the results table has no wells"),  # was AttributeError (.str accessor)
        (b"sample,target,ct\n\n", "the results table has no wells"),
    ],
)
def test_empty_binary_and_wellless_files_are_one_line(tmp_path, data, match):
    path = _file(tmp_path, data)
    with pytest.raises(LeptotwinError, match=match) as err:
        read_qpcr(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_bad_quantity_is_refused(tmp_path):
    head = "Well Position,Sample Name,Target Name,Task,CT,Quantity\n"
    for q in ("ten", "-5", "inf"):
        path = _file(tmp_path, head + f"A1,std1,AREG,STANDARD,20.1,{q}\n")
        with pytest.raises(LeptotwinError, match=r"line 2, well A1, column Quantity: bad quantity"):
            read_qpcr(path)
    frame = read_qpcr(_file(tmp_path, head + "A1,std1,AREG,STANDARD,20.1,1.5E+03\n"))
    assert frame["quantity"].tolist() == [1500.0]


def test_cfx_replicate_numbered_content(tmp_path):
    text = ",Well,Fluor,Target,Content,Sample,Cq\n0,A01,FAM,AREG,Unkn-01,S1,27.1\n" \
           "1,A02,FAM,AREG,Std-02,s,20.0\n2,A03,FAM,AREG,NTC,,NaN\n"  # fmt: skip
    frame = read_qpcr(_file(tmp_path, text))
    assert frame["task"].tolist() == ["UNKNOWN", "STANDARD", "NTC"]


@pytest.mark.parametrize("flavor", EXPORT_FLAVORS)
@pytest.mark.parametrize(("sep", "decimal"), [(None, "."), (";", ",")])
def test_every_export_layout_of_the_virtual_cycler_round_trips(tmp_path, flavor, sep, decimal):
    rng = np.random.default_rng(3)
    truth = {"P": {"AREG": 1.0, "GAPDH": 1.0}, "AR": {"AREG": 4.0, "GAPDH": 1.0}}
    wells = simulate_qpcr(make_qpcr_samples(truth, rng=rng), rng=rng)
    path = write_qpcr(wells, tmp_path / "run.csv", flavor=flavor, sep=sep, decimal=decimal)
    back = read_qpcr(path)
    assert len(back) == len(wells)
    np.testing.assert_allclose(back["ct"], wells["ct"].round(3), equal_nan=True)
    assert back["well"].tolist() == [f"{p[0]}{int(p[1:]):02d}" for p in wells["well_position"]]
    assert back["task"].tolist() == wells["task"].tolist()
    unk = (wells["task"] == "UNKNOWN").to_numpy()
    assert back["sample"].to_numpy()[unk].tolist() == wells["sample"].to_numpy()[unk].tolist()
    if flavor != "stepone":  # StepOne exports carry no biological group
        assert back["group"].to_numpy()[unk].tolist() == wells["group"].to_numpy()[unk].tolist()


def test_unknown_export_flavor(tmp_path):
    wells = simulate_qpcr(make_qpcr_samples({"P": {"AREG": 1.0}}, rng=np.random.default_rng(1)),
                          rng=np.random.default_rng(2))  # fmt: skip
    with pytest.raises(LeptotwinError, match="unknown export flavor"):
        write_qpcr(wells, tmp_path / "x.csv", flavor="lightcycler")
