"""The nine claims of the study and their PASS / FAIL / NOT_IMPLEMENTED status.

The claims live as data in ``claims.yaml`` beside this module (wording paraphrased from
``CLAIMS.md``). A reproduce section reports a :class:`ClaimResult` for each claim it checks;
:func:`claims_table` turns the collected results into one row per claim. A claim that no section
reported is ``NOT_IMPLEMENTED`` -- never ``PASS``.

Examples
--------
>>> from leptotwin.study.claims import ClaimResult, ClaimStatus, claims_table
>>> table = claims_table({"C1": ClaimResult("C1", ClaimStatus.PASS, "IC50 = 21 nM")})
>>> list(table.columns)
['id', 'claim', 'figure', 'threshold', 'status', 'measured']
>>> table.set_index("id").loc[["C1", "C2"], "status"].tolist()
['PASS', 'NOT_IMPLEMENTED']
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

import pandas as pd
import yaml
from rich.table import Table
from rich.text import Text

from leptotwin.errors import LeptotwinError

__all__ = [
    "CLAIMS_COLUMNS",
    "READOUT_DIRECTIONS",
    "STATUS_STYLE",
    "Claim",
    "ClaimResult",
    "ClaimStatus",
    "Readout",
    "claims_rich_table",
    "claims_table",
    "load_claims",
]

#: Columns of :func:`claims_table` (and of ``claims.csv``), in order.
CLAIMS_COLUMNS: tuple[str, ...] = ("id", "claim", "figure", "threshold", "status", "measured")

_CLAIMS_FILE = "claims.yaml"
_FIELDS = ("id", "claim", "threshold", "figure", "step")


class ClaimStatus(enum.StrEnum):
    """Outcome of one claim check; the value is what ``claims.csv`` and the report show."""

    PASS = "PASS"
    FAIL = "FAIL"
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"


#: Rich / HTML colour of each status.
STATUS_STYLE: dict[ClaimStatus, str] = {
    ClaimStatus.PASS: "bold green",
    ClaimStatus.FAIL: "bold red",
    ClaimStatus.NOT_IMPLEMENTED: "dim",
}


@dataclass(frozen=True)
class Claim:
    """One claim of the study as stored in ``claims.yaml``.

    Attributes
    ----------
    id : str
        ``"C1"`` .. ``"C9"``.
    claim : str
        What the study reports, in one sentence.
    threshold : str
        The check the twin must pass, in words, with the numbers of ``CLAIMS.md``.
    figure : str
        The report section / figure that shows it.
    step : str
        Name of the reproduce section that computes it.
    """

    id: str
    claim: str
    threshold: str
    figure: str
    step: str


#: How a readout passes its threshold: at or above it, at or below it, or inside a band.
READOUT_DIRECTIONS = ("above", "below", "between")


@dataclass(frozen=True)
class Readout:
    """One number a claim is judged on, with its interval and threshold, for the claims overview
    figure of the report (:func:`leptotwin.study.overview.claims_overview_figure`).

    It describes the check; it does not make it: the section's :class:`ClaimResult` status is the
    verdict (a claim may have conditions a readout does not show, e.g. an interval excluding 1).

    Parameters
    ----------
    name : str
        What the number is of, short (``"alectinib"``, ``"vehicle"``, ``"vs EGFR-mutant LMC"``).
    quantity : str
        What is measured, with its unit (``"IC50 ratio AR / parental (×)"``); readouts of one
        claim with the same quantity share a panel.
    value : float
        The estimate (NaN: not measured, e.g. a median not reached).
    threshold : float or (float, float)
        The threshold, or the (low, high) band for ``direction="between"``.
    direction : {"above", "below", "between"}
        Where the value must lie: at or above the threshold, at or below it, or inside the band.
    lower, upper : float, optional
        The 95 % interval (NaN: none; ``inf`` for an open upper bound).
    log : bool, optional
        Draw on a log axis (ratios, folds, concentrations).

    Raises
    ------
    LeptotwinError
        For an unknown direction, or a threshold that does not fit it.
    """

    name: str
    quantity: str
    value: float
    threshold: float | tuple[float, float]
    direction: str
    lower: float = math.nan
    upper: float = math.nan
    log: bool = False

    def __post_init__(self) -> None:
        where = f"Readout({self.name!r})"
        if self.direction not in READOUT_DIRECTIONS:
            raise LeptotwinError(
                "unknown readout direction",
                source=where,
                field="direction",
                value=self.direction,
                expected="one of " + ", ".join(READOUT_DIRECTIONS),
            )
        band = isinstance(self.threshold, tuple | list)
        if band != (self.direction == "between") or (band and len(self.threshold) != 2):
            raise LeptotwinError(
                "a band (low, high) goes with direction 'between', one number with the others",
                source=where,
                field="threshold",
                value=self.threshold,
            )
        if band:
            object.__setattr__(self, "threshold", tuple(float(t) for t in self.threshold))
        else:
            object.__setattr__(self, "threshold", float(self.threshold))
        for name in ("value", "lower", "upper"):
            object.__setattr__(self, name, float(getattr(self, name)))

    @property
    def meets_threshold(self) -> bool:
        """The value against the threshold alone (inclusive); False when it is NaN."""
        v = self.value
        if math.isnan(v):
            return False
        if self.direction == "above":
            return v >= self.threshold
        if self.direction == "below":
            return v <= self.threshold
        low, high = self.threshold
        return low <= v <= high


@dataclass(frozen=True)
class ClaimResult:
    """What a reproduce section measured for one claim.

    Parameters
    ----------
    id : str
        Claim id, one of those in :func:`load_claims` (checked by :func:`claims_table`).
    status : ClaimStatus or str
        ``PASS``, ``FAIL`` or ``NOT_IMPLEMENTED``; a string is converted.
    measured : str
        The measured figure(s), in words with units, e.g. ``"IC50 = 21 nM (95 % CI 15-30)"``.
    detail : str, optional
        Anything else the reader needs (which sub-check failed, caveats).
    readouts : sequence of Readout, optional
        The key numbers with their thresholds, for the report's claims overview figure (a claim
        without them is shown with its status only). They do not change the status.
    data : sequence of str, optional
        The section's table files (CSV names as in ``SectionResult.tables``) behind this claim;
        the report's claims table links them (none given: every table of the section).

    Raises
    ------
    LeptotwinError
        If ``status`` is not one of the three statuses, or a readout is not a Readout.
    """

    id: str
    status: ClaimStatus
    measured: str
    detail: str = ""
    readouts: Sequence[Readout] = ()
    data: Sequence[str] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.status, ClaimStatus):
            try:
                status = ClaimStatus(self.status)
            except ValueError:
                raise LeptotwinError(
                    "unknown claim status",
                    source=f"ClaimResult({self.id!r})",
                    field="status",
                    value=self.status,
                    expected="one of " + ", ".join(s.value for s in ClaimStatus),
                ) from None
            object.__setattr__(self, "status", status)
        readouts = tuple(self.readouts)
        for r in readouts:
            if not isinstance(r, Readout):
                raise LeptotwinError(
                    "readouts must be Readout objects",
                    source=f"ClaimResult({self.id!r})",
                    field="readouts",
                    value=type(r).__name__,
                )
        object.__setattr__(self, "readouts", readouts)
        object.__setattr__(self, "data", tuple(str(d) for d in self.data))

    @property
    def passed(self) -> bool:
        """True only for ``PASS``."""
        return self.status is ClaimStatus.PASS


@functools.cache
def _load_claims_cached() -> tuple[Claim, ...]:
    text = resources.files("leptotwin.study").joinpath(_CLAIMS_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise LeptotwinError(
            "claims file has no list under 'claims'", source=_CLAIMS_FILE, field="claims"
        )
    claims: list[Claim] = []
    for i, entry in enumerate(data["claims"]):
        if not isinstance(entry, dict):
            raise LeptotwinError(
                "claim entry is not a mapping", source=_CLAIMS_FILE, field=f"claims[{i}]"
            )
        missing = [f for f in _FIELDS if not str(entry.get(f) or "").strip()]
        if missing:
            raise LeptotwinError(
                "claim entry lacks fields",
                source=_CLAIMS_FILE,
                field=f"claims[{i}]",
                value=missing,
                expected=", ".join(_FIELDS),
            )
        claims.append(Claim(**{f: " ".join(str(entry[f]).split()) for f in _FIELDS}))
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise LeptotwinError("duplicate claim ids", source=_CLAIMS_FILE, field="id", value=ids)
    return tuple(claims)


def load_claims() -> list[Claim]:
    """Return the study's claims, in id order, from the packaged ``claims.yaml``.

    Returns
    -------
    list of Claim
        Nine claims, ``C1`` .. ``C9``.

    Raises
    ------
    LeptotwinError
        If the packaged file is malformed (missing field, duplicate id).
    """
    return list(_load_claims_cached())


def claims_table(results: Mapping[str, ClaimResult]) -> pd.DataFrame:
    """One row per claim with the status a section reported, ``NOT_IMPLEMENTED`` otherwise.

    Parameters
    ----------
    results : Mapping[str, ClaimResult]
        Results keyed by claim id. May be empty or partial.

    Returns
    -------
    pandas.DataFrame
        Columns exactly ``id, claim, figure, threshold, status, measured`` (:data:`CLAIMS_COLUMNS`),
        one row per claim of :func:`load_claims`, in claim order; ``status`` holds the
        :class:`ClaimStatus` values as strings, ``measured`` is ``""`` for claims without a
        result.

    Raises
    ------
    LeptotwinError
        If a result has an id that is not a claim, or its key differs from its ``id``.
    """
    claims = load_claims()
    known = {c.id for c in claims}
    for key, result in results.items():
        if not isinstance(result, ClaimResult):
            raise LeptotwinError(
                "claim result is not a ClaimResult",
                source="claims_table",
                field=str(key),
                value=type(result).__name__,
            )
        if key != result.id:
            raise LeptotwinError(
                "claim result is filed under another id",
                source="claims_table",
                field=str(key),
                value=result.id,
                expected=f"key equal to the result's id ({result.id!r})",
            )
        if key not in known:
            raise LeptotwinError(
                "result for an unknown claim",
                source="claims_table",
                field="id",
                value=key,
                expected="one of " + ", ".join(sorted(known, key=_id_order)),
            )
    rows = []
    for claim in claims:
        result = results.get(claim.id)
        status = result.status if result is not None else ClaimStatus.NOT_IMPLEMENTED
        rows.append(
            {
                "id": claim.id,
                "claim": claim.claim,
                "figure": claim.figure,
                "threshold": claim.threshold,
                "status": status.value,
                "measured": result.measured if result is not None else "",
            }
        )
    return pd.DataFrame(rows, columns=list(CLAIMS_COLUMNS))


def claims_rich_table(
    table: pd.DataFrame, *, title: str = "Claims", thresholds: bool = True
) -> Table:
    """Render a :func:`claims_table` frame as a rich Table (PASS green, FAIL red, rest dim).

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`claims_table`.
    title : str, optional
        Table title.
    thresholds : bool, optional
        Add the threshold column (wide; leave it out on narrow terminals).

    Returns
    -------
    rich.table.Table
        Columns id, status, measured, claim (and threshold); print it with ``console.print``.
    """
    out = Table(title=title, show_lines=False, expand=False)
    out.add_column("id", no_wrap=True)
    out.add_column("status", no_wrap=True)
    out.add_column("measured", ratio=2)
    out.add_column("claim", ratio=3)
    if thresholds:
        out.add_column("threshold", ratio=3, style="dim")
    for row in table.itertuples(index=False):
        status = ClaimStatus(row.status)
        measured = row.measured if isinstance(row.measured, str) else ""
        cells = [row.id, Text(status.value, style=STATUS_STYLE[status]), measured or "—", row.claim]
        if thresholds:
            cells.append(row.threshold)
        out.add_row(*cells)
    return out


def _id_order(claim_id: str) -> tuple[int, str]:
    digits = claim_id.lstrip("C")
    return (int(digits), claim_id) if digits.isdigit() else (10**9, claim_id)
