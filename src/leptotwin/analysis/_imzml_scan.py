"""General one-pass compiled scanner of an imzML ``<spectrumList>`` (numba).

The fallback of ``_imzml_template``, which reads files whose spectra are all laid out alike
without compiling anything: used for files whose spectra differ in layout and for broken files,
whose errors it words. Imported (and compiled, or loaded from numba's cache) only then.

Walks the XML bytes once, tokenising only the tags it needs (``spectrum``, ``binaryDataArray``,
``referenceableParamGroupRef``, ``cvParam`` and ``</binaryDataArray>``), with attributes in any
order and either quote character, and returns per spectrum the position (x, y, z) and the
external offset and length of its m/z and intensity arrays. A status code reports the first
problem (too many spectra, an array of unknown type, a non-numeric value) with the spectrum
index, so the caller can raise an error a user can act on.
"""

from __future__ import annotations

import numpy as np

from leptotwin.analysis._kernels import _jit

__all__ = ["STATUS_MESSAGES", "scan_spectrum_list"]

#: status → message (``{i}``: spectrum index)
STATUS_MESSAGES = {
    1: "more spectra than the spectrumList count declares",
    2: "spectrum {i}: a binary data array is neither m/z nor intensity (no known group ref)",
    3: "spectrum {i}: a position, offset or length is not an integer (of at most 18 digits)",
    4: "spectrum {i}: unterminated tag or attribute (file cut short?)",
}


def _b(s: str) -> np.ndarray:
    return np.frombuffer(s.encode(), dtype=np.uint8).copy()


_SPECTRUM = _b("spectrum")
_BDA = _b("binaryDataArray")
_CV = _b("cvParam")
_REF = _b("referenceableParamGroupRef")
_ACC = _b("accession")
_VALUE = _b("value")
_REFATTR = _b("ref")
_CODES = [
    _b(c)
    for c in (
        "IMS:1000050",
        "IMS:1000051",
        "IMS:1000052",
        "IMS:1000102",
        "IMS:1000103",
        "MS:1000514",
        "MS:1000515",
    )
]


@_jit()
def _eq(a, s, e, pat):  # pragma: no cover - compiled
    if e - s != pat.size:
        return False
    for k in range(pat.size):
        if a[s + k] != pat[k]:
            return False
    return True


@_jit()
def _int(a, s, e):  # pragma: no cover - compiled
    """Integer in a[s:e] (surrounding blanks allowed); -2**62 if not an integer or longer than
    18 digits (beyond that int64 would wrap round to a plausible-looking wrong value)."""
    while s < e and (a[s] == 32 or a[s] == 9 or a[s] == 10 or a[s] == 13):
        s += 1
    while e > s and (a[e - 1] == 32 or a[e - 1] == 9 or a[e - 1] == 10 or a[e - 1] == 13):
        e -= 1
    neg = False
    if s < e and a[s] == 45:
        neg = True
        s += 1
    if s >= e or e - s > 18:
        return -(2**62)
    v = 0
    for k in range(s, e):
        d = a[k] - 48
        if d < 0 or d > 9:
            return -(2**62)
        v = v * 10 + d
    return -v if neg else v


@_jit()
def _scan(a, mzg, intg, n_max, c50, c51, c52, c102, c103, c514, c515):  # pragma: no cover
    n = a.size
    pos = np.full((n_max, 3), -1, np.int64)
    pos[:, 2] = 1
    arrs = np.full((n_max, 2, 2), -1, np.int64)  # [spectrum, type (mz, int), (offset, length)]
    counts = np.zeros((n_max, 2), np.int64)
    spec = -1
    in_arr = False
    cur_t = -1
    cur_o = -1
    cur_l = -1
    i = 0
    while i < n:
        if a[i] != 60:  # '<'
            i += 1
            continue
        j = i + 1
        closing = j < n and a[j] == 47
        if closing:
            j += 1
        k = j
        while (
            k < n
            and a[k] != 32
            and a[k] != 9
            and a[k] != 10
            and a[k] != 13
            and a[k] != 62
            and a[k] != 47
        ):
            k += 1
        if k >= n:
            return pos, arrs, counts, spec + 1, 4, max(spec, 0)
        if closing:
            if in_arr and _eq(a, j, k, _BDA_C):
                if cur_t < 0:
                    return pos, arrs, counts, spec + 1, 2, spec
                arrs[spec, cur_t, 0] = cur_o
                arrs[spec, cur_t, 1] = cur_l
                counts[spec, cur_t] += 1
                in_arr = False
            i = k
            continue
        if _eq(a, j, k, _SPECTRUM_C):
            spec += 1
            if spec >= n_max:
                return pos, arrs, counts, spec, 1, spec
            in_arr = False
            i = k
            continue
        if _eq(a, j, k, _BDA_C):
            in_arr = spec >= 0
            cur_t = -1
            cur_o = -1
            cur_l = -1
            i = k
            continue
        is_cv = _eq(a, j, k, _CV_C)
        is_ref = (not is_cv) and _eq(a, j, k, _REF_C)
        if not (is_cv or is_ref) or spec < 0:
            i = k
            continue
        # attributes: name = "value" pairs up to '>'
        acc_s = acc_e = val_s = val_e = ref_s = ref_e = -1
        p = k
        while p < n and a[p] != 62:
            if a[p] == 32 or a[p] == 9 or a[p] == 10 or a[p] == 13 or a[p] == 47:
                p += 1
                continue
            ns = p
            while p < n and a[p] != 61 and a[p] != 62 and a[p] != 32:
                p += 1
            ne = p
            while p < n and (a[p] == 32 or a[p] == 61):
                p += 1
            if p >= n:
                return pos, arrs, counts, spec + 1, 4, spec
            q = a[p]
            if q != 34 and q != 39:
                continue
            vs = p + 1
            p = vs
            while p < n and a[p] != q:
                p += 1
            if p >= n:
                return pos, arrs, counts, spec + 1, 4, spec
            ve = p
            p += 1
            if _eq(a, ns, ne, _ACC_C):
                acc_s, acc_e = vs, ve
            elif _eq(a, ns, ne, _VALUE_C):
                val_s, val_e = vs, ve
            elif _eq(a, ns, ne, _REFATTR_C):
                ref_s, ref_e = vs, ve
        i = p
        if is_ref:
            if in_arr and ref_s >= 0:
                if _eq(a, ref_s, ref_e, mzg):
                    cur_t = 0
                elif _eq(a, ref_s, ref_e, intg):
                    cur_t = 1
            continue
        if acc_s < 0:
            continue
        if in_arr:
            if _eq(a, acc_s, acc_e, c514):
                cur_t = 0
            elif _eq(a, acc_s, acc_e, c515):
                cur_t = 1
            elif _eq(a, acc_s, acc_e, c102) or _eq(a, acc_s, acc_e, c103):
                v = _int(a, val_s, val_e) if val_s >= 0 else -(2**62)
                if v == -(2**62):
                    return pos, arrs, counts, spec + 1, 3, spec
                if a[acc_e - 1] == 50:  # ...102: offset
                    cur_o = v
                else:
                    cur_l = v
        else:
            col = -1
            if _eq(a, acc_s, acc_e, c50):
                col = 0
            elif _eq(a, acc_s, acc_e, c51):
                col = 1
            elif _eq(a, acc_s, acc_e, c52):
                col = 2
            if col >= 0:
                v = _int(a, val_s, val_e) if val_s >= 0 else -(2**62)
                if v == -(2**62):
                    return pos, arrs, counts, spec + 1, 3, spec
                pos[spec, col] = v
    return pos, arrs, counts, spec + 1, 0, -1


# module-level constants the kernel reads as globals (frozen at compile time)
_SPECTRUM_C, _BDA_C, _CV_C, _REF_C = _SPECTRUM, _BDA, _CV, _REF
_ACC_C, _VALUE_C, _REFATTR_C = _ACC, _VALUE, _REFATTR


def scan_spectrum_list(
    xml: np.ndarray, mz_group: str, int_group: str, n_max: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, int]:
    """Scan ``xml`` (uint8, from ``<spectrumList`` on). Returns ``pos (n_max, 3)``,
    ``arrays (n_max, 2, 2)`` (m/z | intensity × offset | length), ``counts (n_max, 2)``,
    the number of spectra found, a status code (:data:`STATUS_MESSAGES`, 0 = fine) and the
    spectrum it concerns."""
    return _scan(xml, _b(mz_group), _b(int_group), int(n_max), *_CODES)
