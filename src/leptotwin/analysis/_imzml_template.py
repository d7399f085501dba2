r"""Fast path for an imzML spectrum list: one regular expression learnt from the first spectrum.

A writer emits every ``<spectrum>`` element alike: the same elements, attributes and whitespace in
the same order; only values differ. This module reads the first spectrum with a small tag
tokenizer, finds the elements the reader needs (position x, y and optional z; per binary data
array its identity, m/z or intensity, by group ``ref`` or cvParam, its external offset and its
external array length) and turns the text from the first of them to ``</spectrum>`` into one
regular expression:

* each needed value is captured (``-?\d+``) right after its own ``value="``, which must stand at
  the first spectrum's distance from the element's ``accession`` (``"IMS:1000102"`` ...), which
  must be there verbatim; the group ``ref`` (or cvParam) that makes an array m/z or intensity must
  be there verbatim too, so the arrays are the same way round in every spectrum;
* other attribute values holding a digit (counts, lengths, ids) may differ (``[^"]*"``);
* all other text must have the first spectrum's length (``.{n}``, one step for the regex engine:
  the whole pattern then costs little more than a search for its first literal); it is not
  compared (a ``name`` spelt differently but as long changes nothing: the accession says what a
  parameter is), and the match must end with ``</spectrum>`` where the first spectrum's does.

Whitespace, element order or any attribute differing in length from the first spectrum makes a
spectrum not match.

``re.findall`` walks the whole list in one C-level pass: no Python code per spectrum and nothing
to compile at first use. The caller uses the result only when the number of matches equals the
``spectrumList`` count and every spectrum is accounted for (the arrays tile the ``.ibd``, or the
``<spectrum>`` tags number as many); otherwise (another layout per spectrum, a file cut short) it
falls back to the general tokenizer (``_imzml_scan``), which also words the errors for broken
files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["Template", "count_spectra", "learn_template", "scan_with_template"]

# A tag with its attributes; attribute values quoted with " or '.
_TAG = re.compile(
    rb"<(/?)([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(/?)>"
)
_ATTR = re.compile(rb"\s+([A-Za-z_][\w:.-]*)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_SPECTRUM = re.compile(rb"<spectrum[\s>]")
_INT = re.compile(rb"-?\d+")

_POSITION = {b"IMS:1000050": "x", b"IMS:1000051": "y", b"IMS:1000052": "z"}
_ARRAY_PARAM = {b"IMS:1000102": "offset", b"IMS:1000103": "length"}
_ARRAY_KIND = {b"MS:1000514": 0, b"MS:1000515": 1}  # m/z array, intensity array
_NUMERIC = ("x", "y", "z", "offset", "length")
_DIGIT = re.compile(rb"[0-9]")


@dataclass(frozen=True)
class Template:
    """A compiled spectrum template.

    Attributes
    ----------
    pattern : re.Pattern
        Matches one spectrum, from the first needed parameter to ``</spectrum>`` (DOTALL).
    fields : tuple of str
        Meaning of each capture group, in document order: ``"x"``, ``"y"``, ``"z"`` (optional),
        ``"mz_offset"``, ``"mz_length"``, ``"int_offset"``, ``"int_length"``.
    """

    pattern: re.Pattern[bytes]
    fields: tuple[str, ...]


def _local(name: bytes) -> bytes:
    return name.rsplit(b":", 1)[-1]


def learn_template(block: bytes, mz_group: str, int_group: str) -> Template | None:
    """Template from the first ``<spectrum>...</spectrum>`` element (``block``, bytes).

    Returns ``None`` when the spectrum does not have exactly one x and one y position (z
    optional), and exactly one m/z and one intensity array, each with one external offset and
    one external array length, or when it holds text between tags (inline data).
    """
    groups = {mz_group.encode(): 0, int_group.encode(): 1}
    tags = list(_TAG.finditer(block))
    if not tags or _local(tags[0].group(2)) != b"spectrum" or tags[-1].group(1) != b"/":
        return None
    # first pass: which element is needed, and what it means
    meaning: dict[int, tuple[str, int]] = {}  # tag index -> (field, array index)
    kinds: list[int] = []  # identity (0 m/z, 1 intensity) of each binary data array
    params: list[dict[str, int]] = []  # per array: field -> tag index
    positions: dict[str, int] = {}
    array = -1
    depth = 0
    for i, m in enumerate(tags):
        closing, name, empty = m.group(1) == b"/", _local(m.group(2)), m.group(4) == b"/"
        if name == b"binaryDataArray":
            if closing:
                depth -= 1
            elif not empty:
                depth += 1
                array += 1
                kinds.append(-1)
                params.append({})
            continue
        if closing:
            continue
        attrs = {
            a.group(1): (a.group(2) if a.group(2) is not None else a.group(3))
            for a in _ATTR.finditer(m.group(3))
        }
        if name == b"referenceableParamGroupRef" and depth == 1:
            kind = groups.get(attrs.get(b"ref", b""))
            if kind is not None:
                if kinds[array] not in (-1, kind):
                    return None
                kinds[array] = kind
                meaning[i] = ("ref", array)
            continue
        if name != b"cvParam":
            continue
        acc = attrs.get(b"accession", b"")
        if depth == 0 and acc in _POSITION:
            field = _POSITION[acc]
            if field in positions or not _INT.fullmatch(attrs.get(b"value", b"")):
                return None
            positions[field] = i
            meaning[i] = (field, -1)
        elif depth == 1 and acc in _ARRAY_PARAM:
            field = _ARRAY_PARAM[acc]
            if field in params[array] or not _INT.fullmatch(attrs.get(b"value", b"")):
                return None
            params[array][field] = i
            meaning[i] = (field, array)
        elif depth == 1 and acc in _ARRAY_KIND:
            kind = _ARRAY_KIND[acc]
            if kinds[array] not in (-1, kind):
                return None
            kinds[array] = kind
            meaning[i] = ("kind", array)
    if (
        depth != 0
        or "x" not in positions
        or "y" not in positions
        or sorted(kinds) != [0, 1]
        or any(set(p) != {"offset", "length"} for p in params)
    ):
        return None
    # second pass: the regular expression over the first spectrum's text from the first needed
    # element to </spectrum>, as (start, end, kind) spans; the text between spans is skipped by
    # length, ".{n}", which the regex engine does in one step
    first = min(meaning)
    spans: list[tuple[int, int, str]] = []
    fields: list[str] = []
    for i in range(first, len(tags)):
        m = tags[i]
        if i > first and block[tags[i - 1].end() : m.start()].strip():
            return None  # text between tags: not the external-data layout
        if m.group(1) == b"/":
            continue
        what = meaning.get(i)
        for a in _ATTR.finditer(block, m.start(3), m.end(3)):
            quoted = 2 if a.group(2) is not None else 3
            vs, ve = a.start(quoted), a.end(quoted)
            aname = a.group(1)
            if what is not None and aname == (b"ref" if what[0] == "ref" else b"accession"):
                spans.append((vs - 1 if spans else vs, ve + 1, "literal"))  # "IMS:1000051"
            elif what is not None and aname == b"value" and what[0] in _NUMERIC:
                spans.append((a.start(1), vs, "literal"))  # value="
                spans.append((vs, ve, "capture"))
                spans.append((ve, ve + 1, "literal"))  # the closing quote
                field = what[0]
                if what[1] >= 0:
                    field = ("mz_" if kinds[what[1]] == 0 else "int_") + field
                fields.append(field)
            elif _DIGIT.search(block, vs, ve) is not None and spans:
                spans.append((vs, ve, "any"))  # a count, length, id...: may differ
                spans.append((ve, ve + 1, "literal"))
    last = tags[-1]
    spans.append((last.start(), last.end(), "literal"))  # </spectrum>
    parts: list[bytes] = []
    pos = spans[0][0]
    for s0, e0, kind in spans:
        if s0 > pos:
            parts.append(b"." if s0 - pos == 1 else b".{%d}" % (s0 - pos))
        if kind == "literal":
            parts.append(re.escape(block[s0:e0]))
        elif kind == "capture":
            parts.append(rb"(-?\d+)")
        else:
            q = block[e0 : e0 + 1]
            parts.append(rb"[^" + re.escape(q) + rb"]*")
        pos = e0
    try:
        pattern = re.compile(b"".join(parts), re.DOTALL)
    except re.error:  # pragma: no cover - built from escaped pieces
        return None
    return Template(pattern, tuple(fields))


def scan_with_template(
    xml: bytes | memoryview | object, start: int, template: Template, declared: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Apply ``template`` to ``xml`` (bytes or mmap) from byte ``start`` on.

    Returns ``coords (n, 3)`` (x, y, z; z = 1 when absent), ``mz_offsets``, ``mz_lengths``,
    ``int_offsets``, ``int_lengths`` (int64, shape (n,)), or ``None`` when the number of matched
    spectra differs from ``declared`` (the caller then uses the general tokenizer).
    """
    if declared is None:
        return None
    found = template.pattern.findall(xml, start)
    n = len(found)
    if n != declared:
        return None
    k = len(template.fields)
    try:  # int() of each captured -?\d+
        vals = np.array(found, dtype=np.int64).reshape(n, k)
    except OverflowError:  # a value beyond 64 bits: the general tokenizer reports it
        return None
    col = {f: vals[:, j] for j, f in enumerate(template.fields)}
    coords = np.ones((n, 3), dtype=np.int64)
    coords[:, 0], coords[:, 1] = col["x"], col["y"]
    if "z" in col:
        coords[:, 2] = col["z"]
    return (
        coords,
        np.ascontiguousarray(col["mz_offset"]),
        np.ascontiguousarray(col["mz_length"]),
        np.ascontiguousarray(col["int_offset"]),
        np.ascontiguousarray(col["int_length"]),
    )


def count_spectra(xml: bytes | memoryview | object, start: int) -> int:
    """Number of ``<spectrum`` start tags after byte ``start`` (one C-level pass)."""
    return len(_SPECTRUM.findall(xml, start))
