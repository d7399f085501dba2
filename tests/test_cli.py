"""The command line: outputs, one-line errors with exit status 2, nothing written on failure."""

from __future__ import annotations

import pandas as pd
import pytest


def test_pk_writes_csv_and_png(run_cli, tmp_path):
    out = tmp_path / "pk"
    code, stdout, _ = run_cli(
        "pk",
        "--drug",
        "osimertinib",
        "--species",
        "mouse",
        "--regimen",
        "25 mg/kg QD",
        "--days",
        "3",
        "--subjects",
        "20",
        "--out",
        str(out),
    )
    assert code == 0, stdout
    df = pd.read_csv(out / "pk.csv")
    assert list(df.columns) == [
        "time_h",
        "subject",
        "plasma_nM",
        "unbound_nM",
        "csf_nM",
        "lesion_nM",
    ]
    assert df["subject"].nunique() == 20
    assert (out / "pk.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


BAD = [
    (["--drug", "aspirin", "--regimen", "25 mg QD"], r"unknown drug.*alectinib, AZ5104, ceritinib"),
    (["--drug", "alectinib", "--regimen", "25 mg QDX"], r"token 'QDX'"),
    (["--drug", "alectinib", "--regimen", "0 mg QD"], r"dose must be positive"),
    (["--drug", "alectinib", "--regimen", "25 mg QD", "--days", "0"], r"--days: days must be"),
    (["--drug", "alectinib", "--regimen", "25 mg QD", "--days", "-2"], r"--days: days must be"),
    (["--drug", "alectinib", "--regimen", "25 mg QD", "--species", "rat"], r"unknown species"),
    (["--drug", "alectinib", "--regimen", "25 mg QD ip"], r"route 'ip'"),
    (["--drug", "alectinib", "--regimen", "25 mg QD intranasal"], r"token 'intranasal'"),
    (["--drug", "alectinib", "--regimen", "25 mg QD", "--dayz", "3"], r"No such option"),
]


@pytest.mark.parametrize(("args", "pattern"), BAD)
def test_pk_bad_input_one_line_exit_2_no_files(run_cli, tmp_path, args, pattern):
    out = tmp_path / "never"
    code, _, err = run_cli("pk", *args, "--out", str(out))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leptotwin: error:")
    assert pd.Series(lines).str.contains(pattern, regex=True).all(), err
    assert not out.exists()


def test_pk_refuses_existing_results_unless_force(run_cli, tmp_path):
    out = tmp_path / "pk"
    out.mkdir()
    (out / "keep.csv").write_text("precious\n")
    args = [
        "pk",
        "--drug",
        "erlotinib",
        "--species",
        "mouse",
        "--regimen",
        "50 mg/kg QD",
        "--days",
        "1",
        "--subjects",
        "2",
        "--out",
        str(out),
    ]
    code, _, err = run_cli(*args)
    assert code == 2 and "refusing to overwrite" in err
    assert (out / "keep.csv").read_text() == "precious\n"
    assert not (out / "pk.csv").exists()
    code, _, _ = run_cli(*args, "--force")
    assert code == 0 and (out / "pk.csv").exists()


def test_catalog_lists_and_checks(run_cli):
    code, out, _ = run_cli("catalog", "--drug", "erlotinib", "--csv")
    assert code == 0 and "erlotinib.pk.mouse.fu," in out
    code, out, _ = run_cli("catalog", "--check", "--csv")
    assert code == 0 and "mouse.body_weight," in out  # an assumption
    assert "erlotinib.pk.mouse.fu," not in out  # has a primary source (Wong 2012 DOI)
    code, out, _ = run_cli("catalog", "--check")
    assert code == 0 and "values without a primary source" in out


def test_reproduce_quick_writes_report_and_claims(reproduce_quick, run_cli):
    """The whole quick study through the command line (the session's one run, which
    tests/study/test_report_legibility.py also reads), then a second run into its folder."""
    out, stdout = reproduce_quick.out, reproduce_quick.stdout
    assert reproduce_quick.code == 0, reproduce_quick.stderr
    claims = pd.read_csv(out / "claims.csv")
    assert list(claims.columns)[:5] == ["id", "claim", "figure", "threshold", "status"]
    assert set(claims["status"]) <= {"PASS", "FAIL", "NOT_IMPLEMENTED"}
    html = (out / "report.html").read_text()
    assert "Pharmacokinetics" in html and "data:image/png;base64," in html
    assert "C1" in stdout
    code, _, err = run_cli("reproduce", "--quick", "--out", str(out))
    assert code == 2 and "refusing to overwrite" in err


def test_reproduce_runs_a_small_ensemble_unless_quick(run_cli, monkeypatch, tmp_path):
    from leptotwin import cli
    from leptotwin.study import reproduce as rp

    seen = []

    def record(**kw):
        seen.append(kw["ensemble"])
        raise SystemExit(0)

    monkeypatch.setattr(rp, "run_reproduce", record)
    run_cli("reproduce", "--out", str(tmp_path / "a"))
    run_cli("reproduce", "--quick", "--out", str(tmp_path / "b"))
    run_cli("reproduce", "--quick", "--ensemble", "5", "--out", str(tmp_path / "c"))
    assert seen == [cli.DEFAULT_ENSEMBLE, 0, 5]


def test_reproduce_strict_exit_status(run_cli, monkeypatch, tmp_path):
    """A FAIL claim is a result (status 0); --strict turns it into status 1. The PK section alone
    checks no claim, so it never fails; a failing claim is forced through a one-section run."""
    from leptotwin.study import reproduce as rp
    from leptotwin.study.claims import ClaimResult, ClaimStatus

    def failing(ctx):
        return rp.SectionResult("x", claims=[ClaimResult("C1", ClaimStatus.FAIL, "forced")])

    monkeypatch.setitem(rp._REGISTRY, "forced_fail", rp.SectionSpec("forced_fail", 1, failing))
    code, _, _ = run_cli(
        "reproduce", "--section", "forced_fail", "--ensemble", "0", "--out", str(tmp_path / "a")
    )
    assert code == 0
    code, _, err = run_cli(
        "reproduce",
        "--section",
        "forced_fail",
        "--ensemble",
        "0",
        "--strict",
        "--out",
        str(tmp_path / "b"),
    )
    assert code == 1 and "--strict" in err
