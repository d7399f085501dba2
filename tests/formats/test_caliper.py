"""The caliper table reader (issue 17): the modified-ellipsoid volume against hand values, and
one error per bad input naming file, row and field."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.formats.caliper import (
    MAX_VOLUME_MM3,
    caliper_volume_mm3,
    check_caliper_table,
    read_caliper_table,
)


def _write(tmp_path, text, name="caliper.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_volume_formula_by_hand():
    # 10 x 8^2 / 2 = 320; 6 x 4^2 / 2 = 48; 5.5 x 3^2 / 2 = 24.75
    got = caliper_volume_mm3(np.array([10.0, 6.0, 5.5]), np.array([8.0, 4.0, 3.0]))
    np.testing.assert_array_equal(got, [320.0, 48.0, 24.75])


def test_reads_lengths_and_widths(tmp_path):
    p = _write(
        tmp_path,
        "mouse,arm,day,length_mm,width_mm\nm1,vehicle,7,10,8\nm1,vehicle,14,12.5,10\n"
        "m2,alectinib,7,6,4\n",
    )
    res = read_caliper_table(p)
    t = res.table
    assert t["mouse"].tolist() == ["m1", "m1", "m2"]
    assert t["arm"].tolist() == ["vehicle", "vehicle", "alectinib"]
    np.testing.assert_array_equal(t["day"], [7.0, 14.0, 7.0])
    np.testing.assert_array_equal(t["volume_mm3"], [320.0, 625.0, 48.0])
    assert t["row"].tolist() == [2, 3, 4] and res.notes == []


def test_reads_volumes_without_arm(tmp_path):
    p = _write(tmp_path, "mouse,day,volume_mm3\nm1,7,120.5\nm2,7,0\n")
    res = read_caliper_table(p)
    np.testing.assert_array_equal(res.table["volume_mm3"], [120.5, 0.0])
    assert res.table["arm"].tolist() == ["", ""]
    assert "length_mm" not in res.table


def test_width_above_length_is_kept_and_noted(tmp_path):
    p = _write(tmp_path, "mouse,day,length_mm,width_mm\nm1,7,10,8\nm2,7,4,6\n")
    res = read_caliper_table(p)
    assert res.table["volume_mm3"].iloc[1] == 4 * 6**2 / 2  # as measured, not swapped
    assert len(res.notes) == 1
    assert "caliper.csv" in res.notes[0] and "row 3" in res.notes[0]
    assert "width_mm" in res.notes[0]


@pytest.mark.parametrize(
    ("text", "message", "field"),
    [
        ("mouse,day,length_mm,width_mm\nm1,7,-10,8\n", "negative", "row 2, length_mm"),
        ("mouse,day,length_mm,width_mm\nm1,7,10,8\nm2,7,10,\n", "missing", "row 3, width_mm"),
        ("mouse,day,length_mm,width_mm\nm1,7,ten,8\n", "non-numeric", "row 2, length_mm"),
        ("mouse,day,volume_mm3\nm1,7,5\nm2,14,-3\n", "negative", "row 3, volume_mm3"),
        ("mouse,day,length_mm,width_mm\nm1,,10,8\n", "missing", "row 2, day"),
        ("mouse,day,length_mm,width_mm\nm1,7,1000,8\n", "out of range", "row 2, length_mm"),
        ("mouse,day,length_mm,width_mm\n,7,10,8\n", "missing mouse", "row 2, mouse"),
        ("mouse,day,volume_mm3\nm1,7,5\nm1,7,6\n", "twice", "row 3, mouse, day"),
        (
            "mouse,arm,day,volume_mm3\nm1,a,7,5\nm1,b,14,6\n",
            "more than one arm",
            "row 3, arm",
        ),
        ("mouse,day,length_mm\nm1,7,10\n", "lacks columns", "width_mm"),
        ("mouse,length_mm,width_mm\nm1,10,8\n", "lacks columns", "day"),
        (
            "mouse,day,length_mm,width_mm,volume_mm3\nm1,7,10,8,320\n",
            "both",
            "length_mm, width_mm, volume_mm3",
        ),
    ],
)
def test_errors_name_file_row_and_field(tmp_path, text, message, field):
    p = _write(tmp_path, text, name="my_calipers.csv")
    with pytest.raises(LeptotwinError, match=message) as err:
        read_caliper_table(p)
    assert err.value.source == str(p)
    assert err.value.field == field
    assert "my_calipers.csv" in str(err.value)


def test_a_name_for_errors_and_no_rows(tmp_path):
    p = _write(tmp_path, "mouse,day,volume_mm3\n")
    with pytest.raises(LeptotwinError, match="no rows") as err:
        read_caliper_table(p, name="cal.csv")
    assert err.value.source == "cal.csv"
    with pytest.raises(LeptotwinError, match="cannot read"):
        read_caliper_table(tmp_path / "absent.csv")


def test_numbers_as_numbers():
    df = pd.DataFrame(
        {"mouse": ["a", "b"], "day": [7, 7], "length_mm": [10.0, 6.0], "width_mm": [8, 4]}
    )
    res = check_caliper_table(df, source="frame")
    np.testing.assert_array_equal(res.table["volume_mm3"], [320.0, 48.0])


def test_a_volume_above_a_mouse_is_a_unit_slip(tmp_path):
    """At most about a 30 g mouse's body (3e4 mm³): a flank tumour of 2 cm³ passes, 50 cm³ (or
    a volume in µm³) is refused, naming file, row and field."""
    assert 2e4 <= MAX_VOLUME_MM3 <= 5e4
    ok = read_caliper_table(_write(tmp_path, "mouse,day,volume_mm3\nm1,7,2000\n"))
    assert ok.table["volume_mm3"].iloc[0] == 2000
    p = _write(tmp_path, "mouse,day,volume_mm3\nm1,7,2000\nm1,14,50000\n", name="cal.csv")
    with pytest.raises(LeptotwinError, match="out of range") as err:
        read_caliper_table(p)
    assert err.value.source == str(p) and err.value.field == "row 3, volume_mm3"
    assert err.value.value == "50000" and "30000" in err.value.expected


def test_many_rows_with_width_above_length_give_one_note(tmp_path):
    rows = "".join(f"m{k},7,4,6\n" for k in range(50))
    res = read_caliper_table(_write(tmp_path, "mouse,day,length_mm,width_mm\n" + rows))
    assert len(res.notes) == 1
    assert "row 2 and 49 more rows" in res.notes[0]
