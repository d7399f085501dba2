"""Claims data, the claims table and its rich rendering."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from rich.console import Console

from leptotwin.errors import LeptotwinError
from leptotwin.study.claims import (
    CLAIMS_COLUMNS,
    ClaimResult,
    ClaimStatus,
    claims_rich_table,
    claims_table,
    load_claims,
)


def test_nine_claims_with_all_fields():
    claims = load_claims()
    assert [c.id for c in claims] == [f"C{i}" for i in range(1, 10)]
    for c in claims:
        assert c.claim and c.threshold and c.figure and c.step
        assert "\n" not in c.threshold


def test_thresholds_carry_the_numbers_of_claims_md():
    by_id = {c.id: c for c in load_claims()}
    assert "5 and 100 nM" in by_id["C1"].threshold
    assert "60-140 days" in by_id["C2"].threshold
    assert "between 3 and 30" in by_id["C3"].threshold
    assert "1.5" in by_id["C8"].threshold
    for part in ("10,000", "≥ 3×", "≥ 0.8", "≥ 50 %", "Holm", "≤ 10 %"):
        assert part in by_id["C9"].threshold, part


def test_all_not_implemented_by_default():
    table = claims_table({})
    assert list(table.columns) == list(CLAIMS_COLUMNS)
    assert len(table) == 9
    assert set(table["status"]) == {"NOT_IMPLEMENTED"}
    assert (table["measured"] == "").all()


def test_only_reported_claim_passes():
    table = claims_table({"C1": ClaimResult("C1", ClaimStatus.PASS, "IC50 = 21 nM")})
    status = table.set_index("id")["status"]
    assert status["C1"] == "PASS"
    assert (status.drop("C1") == "NOT_IMPLEMENTED").all()
    assert table.set_index("id").loc["C1", "measured"] == "IC50 = 21 nM"


def test_fail_is_kept():
    table = claims_table({"C3": ClaimResult("C3", "FAIL", "ratio 1.2")})
    assert table.set_index("id").loc["C3", "status"] == "FAIL"


def test_unknown_claim_id_raises():
    with pytest.raises(LeptotwinError, match=r"unknown claim.*C10"):
        claims_table({"C10": ClaimResult("C10", ClaimStatus.PASS, "x")})


def test_key_must_match_result_id():
    with pytest.raises(LeptotwinError, match="filed under another id"):
        claims_table({"C1": ClaimResult("C2", ClaimStatus.PASS, "x")})


def test_bad_status_raises():
    with pytest.raises(LeptotwinError, match=r"unknown claim status.*'OK'"):
        ClaimResult("C1", "OK", "x")


def test_string_status_is_converted():
    result = ClaimResult("C1", "PASS", "x")
    assert result.status is ClaimStatus.PASS
    assert result.passed
    assert not ClaimResult("C1", ClaimStatus.NOT_IMPLEMENTED, "").passed


def test_rich_table_colours_statuses():
    table = claims_table(
        {
            "C1": ClaimResult("C1", ClaimStatus.PASS, "IC50 = 21 nM"),
            "C2": ClaimResult("C2", ClaimStatus.FAIL, "no relapse"),
        }
    )
    rich_table = claims_rich_table(table)
    assert rich_table.row_count == 9
    status_cells = rich_table.columns[1]._cells
    styles = {str(cell): cell.style for cell in status_cells}
    assert "green" in styles["PASS"]
    assert "red" in styles["FAIL"]
    assert styles["NOT_IMPLEMENTED"] == "dim"
    buf = io.StringIO()
    Console(file=buf, width=200).print(rich_table)
    assert "IC50 = 21 nM" in buf.getvalue()


def test_rich_table_without_thresholds():
    rich_table = claims_rich_table(claims_table({}), thresholds=False)
    assert [c.header for c in rich_table.columns] == ["id", "status", "measured", "claim"]


def test_table_is_a_dataframe_of_strings():
    table = claims_table({})
    assert isinstance(table, pd.DataFrame)
    for column in CLAIMS_COLUMNS:
        assert pd.api.types.is_string_dtype(table[column])
