"""What the calibration fits, what it holds out, and how readouts are scored against them.

The targets live in ``calibration/targets.yaml`` (packaged): published numbers (each citing its
publication or label) and the study's findings, each with its measurement error, its source and
a role — ``used`` (the calibration fits it) or ``held_out`` (never seen by the calibration,
reported as a prediction).
A target is a Gaussian around a stated value or, for findings stated as a range or an inequality,
an interval-censored measurement (the probability that a measurement with the stated error falls
inside the range); both on the log or the linear scale (the YAML's header says why).

>>> from leptotwin.calibration.targets import load_targets, log_likelihood
>>> targets = load_targets()
>>> sum(t.role == "held_out" for t in targets) >= 3
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import special

from leptotwin.errors import LeptotwinError

__all__ = [
    "KINDS",
    "ROLES",
    "SCALES",
    "Target",
    "load_targets",
    "log_likelihood",
    "target_table",
    "targets_from_table",
]

ROLES = ("used", "held_out", "cohort")
SCALES = ("log", "linear")
KINDS = ("gaussian", "interval")
_KEYS = {
    "name",
    "readout",
    "unit",
    "kind",
    "value",
    "low",
    "high",
    "error",
    "chain",
    "role",
    "source",
    "note",
    "replaces",
}
_REQUIRED = ("name", "readout", "unit", "error", "role", "source")


@dataclass(frozen=True)
class Target:
    """One calibration target.

    Attributes
    ----------
    name : str
    readout : str
        Name of a readout in :data:`leptotwin.calibration.readouts.READOUTS`.
    value : float
        Gaussian: the centre. Interval: the value shown in tables (the bounds' middle on the
        target's scale unless stated).
    unit : str
    scale : {"log", "linear"}
        Scale of the error (log: natural log).
    sd : float
        Measurement error on that scale (> 0).
    role : {"used", "held_out"}
    source : str
    note : str
    kind : {"gaussian", "interval"}
    low, high : float or None
        Interval bounds (one may be None: a one-sided statement).
    chain_offset : float
        What the twin's full chain (virtual instruments → files → analysis) measures minus the
        noise-free readout, on the target's scale (``scripts/chain_noise.py`` at the posterior
        median; 0 when not measured). The measurement model is ``f(twin) + chain_offset + ε``.
    chain_sd : float
        The full chain's measurement SD on that scale (0 when not measured); ``ε`` has SD
        ``max(sd, chain_sd)``.
    replaces : str or None
        ``cohort`` targets only: the ``used`` target whose typical-mouse readout this cohort
        readout replaces in the importance stage (``None``: a target the sampler has no
        counterpart for).
    """

    name: str
    readout: str
    value: float
    unit: str
    scale: str
    sd: float
    role: str
    source: str
    note: str = ""
    kind: str = "gaussian"
    low: float | None = None
    high: float | None = None
    chain_offset: float = 0.0
    chain_sd: float = 0.0
    replaces: str | None = None

    @property
    def sd_effective(self) -> float:
        """The measurement SD the likelihood uses: the stated error or, where larger, the SD
        of the twin's own full-chain measurement."""
        return max(self.sd, self.chain_sd)

    @property
    def error(self) -> dict[str, Any]:
        """``{"scale": ..., "sd": ...}``, as written in the YAML."""
        return {"scale": self.scale, "sd": self.sd}

    def _f(self, x: float) -> float:
        if self.scale == "log":
            return math.log(x) if x > 0 else -math.inf
        return x

    def z(self, twin: float) -> float:
        """Signed distance of the expected measurement, ``f(twin) + chain_offset``, from the
        target in units of :attr:`sd_effective` (0 inside an interval); NaN for a NaN readout,
        ±inf for a readout at ±inf outside the target."""
        x = float(twin)
        if math.isnan(x):
            return math.nan
        if math.isinf(x):
            if self.kind == "gaussian":
                return math.copysign(math.inf, x)
            if x < 0:
                return -math.inf if self.low is not None else 0.0
            return math.inf if self.high is not None else 0.0
        u = self._f(x)
        if u == -math.inf:
            return -math.inf if (self.kind == "gaussian" or self.low is not None) else 0.0
        u += self.chain_offset
        sd = self.sd_effective
        if self.kind == "gaussian":
            return (u - self._f(self.value)) / sd
        if self.low is not None and u < self._f(self.low):
            return (u - self._f(self.low)) / sd
        if self.high is not None and u > self._f(self.high):
            return (u - self._f(self.high)) / sd
        return 0.0

    def log_likelihood(self, twin: float) -> float:
        """Log-likelihood of the target given the twin's noise-free readout (constants dropped).

        Gaussian: ``-z²/2``. Interval: the log probability that a measurement of the readout,
        ``u + ε`` with ``u = f(twin) + chain_offset`` and ``ε ~ N(0, sd_effective)`` on the
        target's scale, falls inside the stated range — ``log(Φ((f(high) − u)/sd) −
        Φ((f(low) − u)/sd))`` (an interval-censored observation). The study reported that its
        measurement fell inside the range; a twin sitting on a bound would have reported it
        only half the time, so the likelihood there is ½, and it rises towards 1 one or two sd
        inside. ``-inf`` for a NaN readout and for
        an infinite one outside the target.
        """
        x = float(twin)
        if math.isnan(x):
            return -math.inf
        if self.kind == "gaussian":
            z = self.z(x)
            return -0.5 * z * z if math.isfinite(z) else -math.inf
        u = self._f(x) if not math.isinf(x) else x
        if math.isfinite(u):
            u += self.chain_offset
        sd = self.sd_effective
        lo = -math.inf if self.low is None else (self._f(self.low) - u) / sd
        hi = math.inf if self.high is None else (self._f(self.high) - u) / sd
        return _log_normal_mass(lo, hi)


def _log_normal_mass(a: float, b: float) -> float:
    """``log(Φ(b) − Φ(a))`` for ``a ≤ b`` (either may be infinite), without cancellation in
    either tail; ``-inf`` when the interval is empty or lies at ±inf."""
    if math.isnan(a) or math.isnan(b) or not a < b:
        return -math.inf
    if a > 0.0:  # both bounds in the upper tail: use the mirror image
        a, b = -b, -a
    lb = float(special.log_ndtr(b))
    la = float(special.log_ndtr(a))
    if la == -math.inf:
        return lb
    return lb + math.log1p(-math.exp(la - lb))


def _packaged_path() -> Path:
    return Path(str(resources.files("leptotwin.calibration") / "targets.yaml"))


def _number(raw: Any, source: str, field: str, *, positive: bool = False) -> float:
    bad = isinstance(raw, bool) or not isinstance(raw, int | float)
    x = math.nan if bad else float(raw)
    if not math.isfinite(x) or (positive and x <= 0):
        raise LeptotwinError(
            "not a valid number",
            source=source,
            field=field,
            value=raw,
            expected="a finite number > 0" if positive else "a finite number",
        )
    return x


def _text(raw: Any, source: str, field: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise LeptotwinError("must be non-empty text", source=source, field=field, value=raw)
    return raw.strip()


def _one(entry: Any, i: int, source: str, readouts: Mapping[str, Any]) -> Target:
    where = f"targets[{i}]"
    if not isinstance(entry, dict):
        raise LeptotwinError("each target must be a mapping", source=source, field=where)
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise LeptotwinError(
            "unknown key",
            source=source,
            field=f"{where}.{unknown[0]}",
            expected=", ".join(sorted(_KEYS)),
        )
    for key in _REQUIRED:
        if key not in entry:
            raise LeptotwinError("missing key", source=source, field=f"{where}.{key}")
    name = _text(entry["name"], source, f"{where}.name")
    where = f"targets[{i}] ({name})"
    readout = _text(entry["readout"], source, f"{where}.readout")
    role = entry["role"]
    if role not in ROLES:
        raise LeptotwinError(
            "unknown role",
            source=source,
            field=f"{where}.role",
            value=role,
            expected="used, held_out or cohort",
        )
    if role == "cohort":
        from leptotwin.calibration.cohort_readouts import COHORT_READOUTS, COHORT_UNITS

        if readout not in COHORT_READOUTS:
            raise LeptotwinError(
                "unknown cohort readout",
                source=source,
                field=f"{where}.readout",
                value=readout,
                expected="a name in leptotwin.calibration.cohort_readouts.COHORT_READOUTS",
            )
        readouts = {readout: _CohortUnit(COHORT_UNITS[readout])}
    elif "replaces" in entry:
        raise LeptotwinError(
            "replaces belongs to role: cohort", source=source, field=f"{where}.replaces"
        )
    if readout not in readouts:
        raise LeptotwinError(
            "unknown readout",
            source=source,
            field=f"{where}.readout",
            value=readout,
            expected="a name in leptotwin.calibration.readouts.READOUTS",
        )
    unit = _text(entry["unit"], source, f"{where}.unit")
    if unit != readouts[readout].unit:
        raise LeptotwinError(
            "unit differs from the readout's",
            source=source,
            field=f"{where}.unit",
            value=unit,
            expected=readouts[readout].unit,
        )
    kind = entry.get("kind", "gaussian")
    if kind not in KINDS:
        raise LeptotwinError(
            "unknown kind",
            source=source,
            field=f"{where}.kind",
            value=kind,
            expected="gaussian or interval",
        )
    error = entry["error"]
    if not isinstance(error, dict) or set(error) != {"scale", "sd"}:
        raise LeptotwinError(
            "error must be {scale, sd}",
            source=source,
            field=f"{where}.error",
            value=error,
            expected="{scale: log|linear, sd: > 0}",
        )
    scale = error["scale"]
    if scale not in SCALES:
        raise LeptotwinError(
            "unknown error scale",
            source=source,
            field=f"{where}.error.scale",
            value=scale,
            expected="log or linear",
        )
    sd = _number(error["sd"], source, f"{where}.error.sd", positive=True)
    pos = scale == "log"
    low = high = None
    if kind == "interval":
        if "low" not in entry and "high" not in entry:
            raise LeptotwinError(
                "an interval needs low, high or both", source=source, field=f"{where}.low/high"
            )
        if "low" in entry:
            low = _number(entry["low"], source, f"{where}.low", positive=pos)
        if "high" in entry:
            high = _number(entry["high"], source, f"{where}.high", positive=pos)
        if low is not None and high is not None and not low < high:
            raise LeptotwinError(
                "low must be below high",
                source=source,
                field=f"{where}.low/high",
                value=(low, high),
            )
        if "value" in entry:
            value = _number(entry["value"], source, f"{where}.value", positive=pos)
        elif low is not None and high is not None:
            value = math.sqrt(low * high) if pos else (low + high) / 2.0
        else:
            value = low if low is not None else high  # type: ignore[assignment]
    else:
        for key in ("low", "high"):
            if key in entry:
                raise LeptotwinError(
                    "low/high belong to kind: interval", source=source, field=f"{where}.{key}"
                )
        if "value" not in entry:
            raise LeptotwinError("missing key", source=source, field=f"{where}.value")
        value = _number(entry["value"], source, f"{where}.value", positive=pos)
    chain_offset = chain_sd = 0.0
    if "chain" in entry:
        chain = entry["chain"]
        if not isinstance(chain, dict) or set(chain) != {"offset", "sd"}:
            raise LeptotwinError(
                "chain must be {offset, sd}",
                source=source,
                field=f"{where}.chain",
                value=chain,
                expected="{offset: number on the error's scale, sd: > 0} (scripts/chain_noise.py)",
            )
        chain_offset = _number(chain["offset"], source, f"{where}.chain.offset")
        chain_sd = _number(chain["sd"], source, f"{where}.chain.sd", positive=True)
    note = entry.get("note", "")
    if not isinstance(note, str):
        raise LeptotwinError("must be text", source=source, field=f"{where}.note", value=note)
    return Target(
        name=name,
        readout=readout,
        value=float(value),
        unit=unit,
        scale=scale,
        sd=sd,
        role=role,
        source=_text(entry["source"], source, f"{where}.source"),
        note=note.strip(),
        kind=kind,
        low=low,
        high=high,
        chain_offset=chain_offset,
        chain_sd=chain_sd,
        replaces=_text(entry["replaces"], source, f"{where}.replaces")
        if entry.get("replaces") is not None
        else None,
    )


@dataclass(frozen=True)
class _CohortUnit:
    unit: str


def load_targets(path: str | Path | None = None) -> list[Target]:
    """Read and check a targets file (the packaged ``calibration/targets.yaml`` by default).

    Raises
    ------
    LeptotwinError
        Naming the file and the field: a missing or unreadable file, a file without a
        ``targets`` list, unknown or missing keys, an unknown readout, a unit that is not the
        readout's, an unknown role, kind or error scale, an sd ≤ 0, a bound or value that is not a
        finite number (≤ 0 on the log scale), ``low ≥ high``, a repeated name.
    """
    from leptotwin.calibration.readouts import READOUTS

    p = _packaged_path() if path is None else Path(path)
    source = str(p) if path is not None else "calibration/targets.yaml"
    if not p.is_file():
        raise LeptotwinError("targets file not found", source=str(p))
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise LeptotwinError(
            f"not a readable YAML file ({exc.__class__.__name__})", source=source
        ) from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("targets"), list)
        or not data["targets"]
    ):
        raise LeptotwinError(
            "no targets", source=source, field="targets", expected="a non-empty list of targets"
        )
    extra = sorted(set(data) - {"targets"})
    if extra:
        raise LeptotwinError(
            "unknown top-level key", source=source, field=extra[0], expected="targets"
        )
    targets = [_one(e, i, source, READOUTS) for i, e in enumerate(data["targets"])]
    seen: set[str] = set()
    for i, t in enumerate(targets):
        if t.name in seen:
            raise LeptotwinError(
                "target name used twice", source=source, field=f"targets[{i}].name", value=t.name
            )
        seen.add(t.name)
    used = {t.name for t in targets if t.role == "used"}
    for i, t in enumerate(targets):
        if t.replaces is not None and t.replaces not in used:
            raise LeptotwinError(
                "replaces must name a used target",
                source=source,
                field=f"targets[{i}] ({t.name}).replaces",
                value=t.replaces,
            )
    return targets


def targets_from_table(path: str | Path) -> list[Target]:
    """The targets a finished calibration scored, read back from its
    ``calibration_targets.csv`` (what the sampler's likelihood was: bounds, the effective
    measurement SD and the chain offset of each target at the time).

    The effective SD is read into ``sd`` (``chain_sd`` 0), so :meth:`Target.log_likelihood`
    gives what the sampler computed.

    Raises
    ------
    LeptotwinError
        A missing or unreadable file, or a missing column.
    """
    p = Path(path)
    if not p.is_file():
        raise LeptotwinError("calibration targets table not found", source=str(p))
    try:
        table = pd.read_csv(p)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise LeptotwinError(
            f"not a readable CSV file ({exc.__class__.__name__})", source=str(p)
        ) from None
    need = ("name", "readout", "role", "kind", "value", "low", "high", "unit", "error_scale")
    for col in (*need, "error_sd", "chain_offset"):
        if col not in table.columns:
            raise LeptotwinError(
                "missing column", source=str(p), field=col, expected="calibration_targets.csv"
            )

    def bound(x: Any) -> float | None:
        v = float(x)
        return v if math.isfinite(v) else None

    return [
        Target(
            name=str(r.name),
            readout=str(r.readout),
            value=float(r.value),
            unit=str(r.unit),
            scale=str(r.error_scale),
            sd=float(r.error_sd),
            role=str(r.role),
            source=str(getattr(r, "source", "")),
            kind=str(r.kind),
            low=bound(r.low),
            high=bound(r.high),
            chain_offset=float(r.chain_offset),
        )
        for r in table.itertuples(index=False)
    ]


def log_likelihood(readout_values: Mapping[str, float], targets: Sequence[Target]) -> float:
    """Sum of the ``used`` targets' log-likelihoods (:meth:`Target.log_likelihood`, constants
    dropped, so 0 when every used target is met exactly); ``-inf`` when a used target's readout
    is NaN, missing, or infinite outside its target.

    Parameters
    ----------
    readout_values : mapping
        Readout name → twin value (e.g. from :func:`~leptotwin.calibration.readouts.
        evaluate_readouts`).
    targets : sequence of Target
        Held-out targets are skipped.
    """
    total = 0.0
    for t in targets:
        if t.role != "used":
            continue
        x = readout_values.get(t.readout, math.nan)
        try:
            x = float(x)
        except (TypeError, ValueError):
            return -math.inf
        ll = t.log_likelihood(x)
        if ll == -math.inf:
            return -math.inf
        total += ll
    return total


def target_table(targets: Sequence[Target], readout_values: Mapping[str, float]) -> pd.DataFrame:
    """One row per target for reports: ``name, readout, role, kind, value, low, high, unit,
    twin, ratio (twin / value), z (in sd, 0 inside an interval), met (|z| ≤ 2 for a Gaussian,
    inside for an interval), source``."""
    rows = []
    for t in targets:
        twin = float(readout_values.get(t.readout, math.nan))
        z = t.z(twin)
        met = bool(z == 0.0) if t.kind == "interval" else bool(abs(z) <= 2.0)
        with np.errstate(all="ignore"):
            ratio = twin / t.value if t.value != 0 else math.nan
        rows.append(
            {
                "name": t.name,
                "readout": t.readout,
                "role": t.role,
                "kind": t.kind,
                "value": t.value,
                "low": t.low,
                "high": t.high,
                "unit": t.unit,
                "twin": twin,
                "ratio": ratio,
                "z": z,
                "met": met,
                "source": t.source,
            }
        )
    return pd.DataFrame(rows)
