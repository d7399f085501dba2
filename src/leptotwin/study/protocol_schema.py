"""Schema of in-vivo protocol files (``study/protocols/lmc_mouse.yaml`` and users' copies).

A protocol has ``regimens`` (drug → regimen text, checked by the regimen parser) and experiment
blocks (any other top-level key whose value has an ``inoculum``). Unknown keys, wrong types and
unreadable regimens are errors that name the file, the field and the line, e.g.
``my.yaml: line 6, combination.mice_per_arm: Input should be a valid integer (got 'ten')``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leptotwin.errors import LeptotwinError
from leptotwin.model.regimen import parse_regimen

__all__ = [
    "ExperimentBlock",
    "load_packaged_protocol",
    "packaged_protocol_text",
    "validate_protocol",
]


class ExperimentBlock(BaseModel):
    """One in-vivo experiment of a protocol."""

    model_config = ConfigDict(extra="forbid")

    inoculum: Literal["A925LPE3", "A925L/AR"]
    mice: int | None = Field(default=None, gt=0)
    mice_per_arm: int | None = Field(default=None, gt=0)
    quick_mice: int | None = Field(default=None, gt=0)
    quick_mice_per_arm: int | None = Field(default=None, gt=0)
    follow_up_days: float = Field(gt=0)
    imaging_every_days: float | None = Field(default=None, gt=0)
    imaging_weeks: int | None = Field(default=None, gt=0)
    observe_days: list[float] | None = None
    harvest_cells: int | None = Field(default=None, gt=0)
    arms: dict[str, list[str]] | None = None


def packaged_protocol_text(name: str) -> str | None:
    """Text of the packaged protocol ``study/protocols/<name>.yaml``; None if there is none."""
    path = resources.files("leptotwin.study") / "protocols" / f"{name}.yaml"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def load_packaged_protocol(name: str) -> dict:
    """The packaged protocol ``study/protocols/<name>.yaml`` (``lmc_mouse``, ``viability``,
    ``pk_exposure``, ``human_translation``), parsed.

    Raises
    ------
    LeptotwinError
        If there is no such packaged protocol.
    """
    text = packaged_protocol_text(name)
    if text is None:
        raise LeptotwinError("no such packaged protocol", source="study/protocols", value=name)
    return yaml.safe_load(text)


def _lines(text: str) -> dict[tuple[str, ...], int]:
    """Key path → 1-based line of each mapping key in the YAML text."""
    out: dict[tuple[str, ...], int] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                p = (*path, str(key.value))
                out[p] = key.start_mark.line + 1
                walk(value, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                out[(*path, str(i))] = item.start_mark.line + 1
                walk(item, (*path, str(i)))

    try:
        walk(yaml.compose(text), ())
    except yaml.YAMLError:
        pass
    return out


def _error(
    source: str,
    lines: dict,
    path: tuple[str, ...],
    message: str,
    value: Any = None,
    expected: str | None = None,
) -> LeptotwinError:
    line = None
    for k in range(len(path), 0, -1):
        line = lines.get(path[:k])
        if line is not None:
            break
    where = f"line {line}, " if line is not None else ""
    return LeptotwinError(
        message, source=source, field=where + ".".join(path), value=value, expected=expected
    )


def validate_protocol(data: Any, text: str, source: str) -> dict[str, ExperimentBlock]:
    """Check a parsed protocol; returns its experiment blocks.

    Raises
    ------
    LeptotwinError
        Naming the file, the line and the field: a missing or empty ``regimens`` mapping, a
        regimen the parser cannot read, an unknown top-level key, an unknown or mistyped field
        of an experiment, an arm drug without a regimen.
    """
    lines = _lines(text)
    if not isinstance(data, dict):
        raise LeptotwinError("a protocol is a YAML mapping", source=source)
    regimens = data.get("regimens")
    if not isinstance(regimens, dict) or not regimens:
        raise _error(
            source,
            lines,
            ("regimens",),
            "protocol needs a mapping of regimens",
            expected="regimens: {drug: '20 mg/kg QD'}",
        )
    for drug, text_reg in regimens.items():
        try:
            parse_regimen(str(text_reg))
        except LeptotwinError as exc:
            raise _error(
                source,
                lines,
                ("regimens", str(drug)),
                exc.message,
                value=text_reg,
                expected=exc.expected,
            ) from None
    blocks: dict[str, ExperimentBlock] = {}
    for key, body in data.items():
        if key == "regimens":
            continue
        if not isinstance(body, dict) or "inoculum" not in body:
            raise _error(
                source,
                lines,
                (str(key),),
                "unknown top-level key",
                expected="regimens, or an experiment block with an inoculum",
            )
        try:
            block = ExperimentBlock(**body)
        except ValidationError as exc:
            err = exc.errors()[0]
            path = (str(key), *(str(p) for p in err["loc"]))
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            raise _error(
                source,
                lines,
                path,
                msg,
                value=err.get("input") if err["type"] != "extra_forbidden" else None,
            ) from None
        if block.mice is None and block.mice_per_arm is None:
            raise _error(source, lines, (str(key),), "experiment needs mice or mice_per_arm")
        for arm, drugs in (block.arms or {}).items():
            for i, drug in enumerate(drugs):
                if drug not in regimens:
                    raise _error(
                        source,
                        lines,
                        (str(key), "arms", arm, str(i)),
                        "drug has no regimen in the protocol",
                        value=drug,
                        expected="one of " + ", ".join(regimens),
                    )
        blocks[str(key)] = block
    if not blocks:
        raise LeptotwinError(
            "protocol has no experiment (a block with an inoculum)", source=source, field="inoculum"
        )
    return blocks
