"""Virtual immunoblots and phospho-RTK membrane arrays: images as a lab's scanner writes them.

The caller computes what each lane holds (from the model or by hand) and passes plain tables;
this module only turns amounts into pixels, so it never imports :mod:`leptotwin.model`.

Western blot
------------
Input: ``lanes`` (``lane, label``) and ``bands`` (``lane, protein, amount``; amount in relative
units, linear in the protein on the membrane). Each protein gets one horizontal strip of the
membrane (in the order of first appearance). Every band is a flat-topped blob (soft left/right
edges, Gaussian in height) whose pixel sum is exactly::

    volume = amount x loading_lane x volume_per_unit          (counts x px)

* ``loading_lane`` — log-normal, median 1, CV ``loading_cv``, one per lane and shared by all
  proteins of that lane (what a loading control corrects);
* lane centres sit at ``margin + (i + 1/2) x lane_pitch`` plus Normal(0, ``lane_jitter_sd``);
* "smile": a band at the gel's outer edge sits ``smile`` px lower than at the centre
  (quadratic across the gel, also inside one band);
* film: the darkening ``D`` (sum of all bands) is linear up to ``linear_limit`` and then
  flattens smoothly towards ``max_response``; the scan is
  ``background(x, y) - response(D)`` with a tilted background (``background_gradient``), shot
  noise (Poisson in quanta of ``counts_per_quantum``), read noise ``read_sd``, rounded and
  clipped to 0..65535. A fully saturated band reads 0 (black) on the film.

``polarity="light-on-dark"`` writes the inverse (65535 - film), as a raw chemiluminescence
imager shows it. Settings: the ``blot`` block of ``catalog/data/assays.yaml``.

Phospho-RTK array
-----------------
A membrane in the style of R&D Systems Proteome Profiler ARY001B: 49 receptors in duplicate
(horizontally adjacent spots), duplicate reference spots in three corners (top left, top right,
bottom left) and duplicate PBS negative-control spots in the bottom-right corner, on a grid of
5 rows x 24 columns with pitch ``array_pitch``. The coordinates are this module's own layout,
not the kit's printed map; :func:`array_layout` returns it and :func:`write_array` writes it as
the layout CSV that :func:`leptotwin.analysis.densitometry.read_array_layout` reads::

    # leptotwin array layout v1
    # pitch_px: 24
    # origin_x_px: 30          (centre of the spot at row 0, col 0)
    # origin_y_px: 30
    # spot_radius_px: 9.6
    receptor,kind,row,col      (kind: reference, negative or receptor)

Spot volume = (level + ``array_nonspecific_level``) x spot noise (log-normal, CV
``array_spot_cv``) x ``array_volume_per_unit``; reference spots have level
``array_reference_level``; the film response and noise are those of the blot.

Files: :func:`write_blot` and :func:`write_array` write the image (16-bit TIFF or PNG), the truth
as CSV (one row per band or spot) and a JSON sidecar (settings, geometry, truth).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import erf

from leptotwin._fileio import atomic_write, write_csv, write_text
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError

__all__ = [
    "ARRAY_RECEPTORS",
    "BlotSettings",
    "VirtualArray",
    "VirtualBlot",
    "array_layout",
    "layout_csv_text",
    "simulate_array",
    "simulate_blot",
    "write_array",
    "write_blot",
]

ARRAY_RECEPTORS = (
    "EGFR", "ErbB2", "ErbB3", "ErbB4", "FGF R1", "FGF R2a", "FGF R3", "FGF R4", "Insulin R",
    "IGF-I R", "Axl", "Dtk", "Mer", "HGF R", "MSP R", "PDGF Ra", "PDGF Rb", "SCF R", "Flt-3",
    "M-CSF R", "c-Ret", "ROR1", "ROR2", "Tie-1", "Tie-2", "TrkA", "TrkB", "TrkC", "VEGF R1",
    "VEGF R2", "VEGF R3", "MuSK", "EphA1", "EphA2", "EphA3", "EphA4", "EphA6", "EphA7", "EphB1",
    "EphB2", "EphB4", "EphB6", "ALK", "DDR1", "DDR2", "EphA5", "EphA10", "EphB3", "RYK",
)  # fmt: skip
"""The 49 receptor tyrosine kinases of the ARY001B kit (spelled without Greek letters)."""

_ARRAY_ROWS, _ARRAY_COLS = 5, 24
_FULL = 65535
_POLARITIES = ("dark-on-light", "light-on-dark")
_FORMATS = ("tiff", "png")


@dataclass(frozen=True)
class BlotSettings:
    """Settings of the virtual film and scanner (the ``blot`` block of the assay catalogue has
    units and sources). Build with :meth:`from_catalog`; replace single values with
    ``dataclasses.replace`` (e.g. ``read_sd=0, counts_per_quantum=0`` for a noise-free scan)."""

    lane_pitch: float
    band_width: float
    band_sigma: float
    edge_softness: float
    strip_height: float
    margin: float
    lane_jitter_sd: float
    loading_cv: float
    smile: float
    background_level: float
    background_gradient: float
    volume_per_unit: float
    linear_limit: float
    max_response: float
    counts_per_quantum: float
    read_sd: float
    array_pitch: float
    array_spot_sigma: float
    array_margin: float
    array_volume_per_unit: float
    array_reference_level: float
    array_nonspecific_level: float
    array_spot_cv: float

    @classmethod
    def from_catalog(cls, catalog: Catalog | None = None) -> BlotSettings:
        """Read every setting from ``catalog.assays["blot"]`` (the packaged catalogue by
        default)."""
        cat = catalog if catalog is not None else load_catalog()
        return cls(**{f.name: float(cat.assay_value("blot", f.name)) for f in fields(cls)})

    def __post_init__(self) -> None:
        may_be_zero = {
            "lane_jitter_sd", "loading_cv", "smile", "background_gradient", "counts_per_quantum",
            "read_sd", "array_nonspecific_level", "array_spot_cv", "edge_softness",
        }  # fmt: skip
        for f in fields(self):
            value = getattr(self, f.name)
            zero_ok = f.name in may_be_zero
            if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
                raise LeptotwinError(
                    "invalid blot setting",
                    source="BlotSettings",
                    field=f.name,
                    value=value,
                    expected="a finite value >= 0" if zero_ok else "a finite value > 0",
                )
        if self.max_response <= self.linear_limit:
            raise LeptotwinError(
                "max_response must exceed linear_limit",
                source="BlotSettings",
                field="max_response",
                value=self.max_response,
                expected=f"> linear_limit ({self.linear_limit})",
            )


@dataclass(frozen=True)
class VirtualBlot:
    """A simulated membrane scan.

    Attributes
    ----------
    image : ndarray of shape (n_rows, n_cols), uint16
        The scan (grey levels 0..65535).
    truth : DataFrame
        One row per band: ``lane, label, protein, amount, loading, volume_true`` (counts x px,
        the linear darkening before film response and noise), ``center_x_px, center_y_px``
        (the band's centre at the lane centre), ``peak_darkening`` (counts) and
        ``saturated_true`` (peak darkening above the linear limit).
    strips : DataFrame
        ``protein, row0_px, row1_px`` (inclusive rows of each antibody strip).
    lanes : DataFrame
        ``lane, label, center_px`` (true lane centres, with jitter).
    polarity : str
        ``"dark-on-light"`` (film) or ``"light-on-dark"``.
    settings : BlotSettings
    """

    image: np.ndarray
    truth: pd.DataFrame
    strips: pd.DataFrame
    lanes: pd.DataFrame
    polarity: str
    settings: BlotSettings


@dataclass(frozen=True)
class VirtualArray:
    """A simulated phospho-RTK membrane.

    Attributes
    ----------
    image : ndarray of shape (n_rows, n_cols), uint16
    layout : DataFrame
        ``receptor, kind, row, col, x_px, y_px`` for every spot.
    truth : DataFrame
        The layout plus ``level`` (relative phospho units, without the non-specific part),
        ``volume_true`` (counts x px) and ``saturated_true``.
    pitch_px, origin_x_px, origin_y_px, spot_radius_px : float
        Grid geometry (origin: the centre of the spot at row 0, col 0).
    polarity : str
    settings : BlotSettings
    """

    image: np.ndarray
    layout: pd.DataFrame
    truth: pd.DataFrame
    pitch_px: float
    origin_x_px: float
    origin_y_px: float
    spot_radius_px: float
    polarity: str
    settings: BlotSettings


# --------------------------------------------------------------------------------------------
# shared film model


def _film(
    darkening: np.ndarray, s: BlotSettings, rng: np.random.Generator, polarity: str
) -> np.ndarray:
    """Darkening (counts) -> 16-bit scan: film response, tilted background, noise."""
    n_rows, n_cols = darkening.shape
    knee, top = s.linear_limit, s.max_response
    over = np.maximum(darkening - knee, 0.0)
    response = np.where(
        darkening <= knee, darkening, knee + (top - knee) * np.tanh(over / (top - knee))
    )
    x = (np.arange(n_cols) / max(n_cols - 1, 1) - 0.5)[None, :]
    y = (np.arange(n_rows) / max(n_rows - 1, 1) - 0.5)[:, None]
    g = s.background_gradient
    background = s.background_level * (1.0 + g * x + 0.5 * g * y)
    light = np.maximum(background - response, 0.0)
    if s.counts_per_quantum > 0:
        light = rng.poisson(light / s.counts_per_quantum) * s.counts_per_quantum
    if s.read_sd > 0:
        light = light + rng.normal(0.0, s.read_sd, light.shape)
    image = np.clip(np.rint(light), 0, _FULL).astype(np.uint16)
    if polarity == "light-on-dark":
        image = (_FULL - image).astype(np.uint16)
    return image


def _check_polarity(polarity: str, source: str) -> None:
    if polarity not in _POLARITIES:
        raise LeptotwinError(
            "unknown polarity",
            source=source,
            field="polarity",
            value=polarity,
            expected="one of " + ", ".join(_POLARITIES),
        )


def _need_columns(frame: pd.DataFrame, columns: tuple[str, ...], source: str, name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise LeptotwinError(
            "not a table", source=source, field=name, value=type(frame).__name__,
            expected="a pandas DataFrame",
        )  # fmt: skip
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LeptotwinError(
            "missing columns",
            source=source,
            field=name,
            value=missing,
            expected="columns " + ", ".join(columns),
        )


def _nonnegative(
    frame: pd.DataFrame, column: str, source: str, field: str, what: str
) -> np.ndarray:
    """``frame[column]`` as float, shape (n_rows,); raises unless every value is finite >= 0."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise LeptotwinError(
            f"{what} must be finite and >= 0",
            source=source,
            field=field,
            value=frame[column].tolist(),
        )
    return values


def _lognormal(cv: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` log-normal factors with median 1 and coefficient of variation ``cv`` (ones at 0)."""
    if cv <= 0:
        return np.ones(n)
    return np.exp(rng.normal(0.0, math.sqrt(math.log1p(cv**2)), n))


# --------------------------------------------------------------------------------------------
# western blot


def simulate_blot(
    lanes: pd.DataFrame,
    bands: pd.DataFrame,
    *,
    rng: np.random.Generator,
    settings: BlotSettings | None = None,
    polarity: str = "dark-on-light",
) -> VirtualBlot:
    """Simulate the scanned film of a western blot.

    Parameters
    ----------
    lanes : DataFrame
        ``lane, label``: one row per lane, in loading order (left to right).
    bands : DataFrame
        ``lane, protein, amount``: relative amount (>= 0) of each protein in each lane; a lane
        without a row for a protein has none. Strips are stacked top to bottom in the order in
        which proteins first appear.
    rng : numpy.random.Generator
        Draws lane jitter, loading and noise.
    settings : BlotSettings, optional
        Defaults to :meth:`BlotSettings.from_catalog`.
    polarity : {"dark-on-light", "light-on-dark"}

    Returns
    -------
    VirtualBlot

    Raises
    ------
    LeptotwinError
        Missing columns, no lanes, duplicate lanes, a band in an unknown lane, a negative or
        non-finite amount, an unknown polarity.
    """
    src = "simulate_blot"
    s = settings if settings is not None else BlotSettings.from_catalog()
    _check_polarity(polarity, src)
    _need_columns(lanes, ("lane", "label"), src, "lanes")
    _need_columns(bands, ("lane", "protein", "amount"), src, "bands")
    if len(lanes) == 0:
        raise LeptotwinError("no lanes", source=src, field="lanes", expected="at least one lane")
    lane_ids = list(lanes["lane"])
    if len(set(lane_ids)) != len(lane_ids):
        raise LeptotwinError("duplicate lane ids", source=src, field="lanes.lane", value=lane_ids)
    unknown = sorted(set(bands["lane"]) - set(lane_ids), key=str)
    if unknown:
        raise LeptotwinError(
            "band in a lane that is not in the lanes table",
            source=src,
            field="bands.lane",
            value=unknown,
        )
    amount = _nonnegative(bands, "amount", src, "bands.amount", "band amounts")
    proteins = list(dict.fromkeys(bands["protein"]))
    if not proteins:
        raise LeptotwinError("no bands", source=src, field="bands", expected="at least one band")

    n_lanes = len(lane_ids)
    n_cols = round(2 * s.margin + n_lanes * s.lane_pitch)
    strip_h = round(s.strip_height)
    n_rows = round(2 * s.margin) + strip_h * len(proteins)
    centers = s.margin + (np.arange(n_lanes) + 0.5) * s.lane_pitch
    centers = centers + rng.normal(0.0, s.lane_jitter_sd, n_lanes) if s.lane_jitter_sd else centers
    loading = _lognormal(s.loading_cv, n_lanes, rng)

    x = np.arange(n_cols, dtype=float)
    y = np.arange(n_rows, dtype=float)
    gel_mid, gel_half = n_cols / 2.0, max(n_lanes * s.lane_pitch / 2.0, 1.0)
    shift = s.smile * ((x - gel_mid) / gel_half) ** 2  # (n_cols,) downward at the edges
    darkening = np.zeros((n_rows, n_cols))
    strip_rows = []
    rows = []
    lane_index = {lid: i for i, lid in enumerate(lane_ids)}
    labels = dict(zip(lanes["lane"], lanes["label"], strict=True))
    band_protein, band_lane = bands["protein"].to_numpy(), bands["lane"].to_numpy(object)
    half = s.band_width / 2.0
    sq = math.sqrt(2.0) * s.edge_softness
    for k, protein in enumerate(proteins):
        r0 = round(s.margin) + k * strip_h
        strip_rows.append((protein, r0, r0 + strip_h - 1))
        y0 = r0 + strip_h / 2.0 - s.smile / 2.0
        sel = band_protein == protein
        for lane, amt in zip(band_lane[sel], amount[sel], strict=True):
            i = lane_index[lane]
            c = centers[i]
            if s.edge_softness > 0:
                fx = 0.5 * (erf((x - c + half) / sq) - erf((x - c - half) / sq))
            else:
                fx = ((x >= c - half) & (x <= c + half)).astype(float)
            cols = fx > 1e-12
            yc = y0 + shift[cols]
            fy = np.exp(-0.5 * ((y[:, None] - yc[None, :]) / s.band_sigma) ** 2)
            kernel = fy * fx[cols][None, :]
            kernel /= kernel.sum()
            volume = float(amt) * loading[i] * s.volume_per_unit
            darkening[:, cols] += volume * kernel
            rows.append(
                {
                    "lane": lane,
                    "label": labels[lane],
                    "protein": protein,
                    "amount": float(amt),
                    "loading": float(loading[i]),
                    "volume_true": volume,
                    "center_x_px": float(c),
                    "center_y_px": float(y0 + s.smile * ((c - gel_mid) / gel_half) ** 2),
                }
            )
    truth = pd.DataFrame(rows)
    peak = []
    for r in rows:
        cx = round(r["center_x_px"])
        cy = round(r["center_y_px"])
        win = darkening[max(cy - 3, 0) : cy + 4, max(cx - 3, 0) : cx + 4]
        peak.append(float(win.max()))
    truth["peak_darkening"] = peak
    truth["saturated_true"] = truth["peak_darkening"] > s.linear_limit
    image = _film(darkening, s, rng, polarity)
    return VirtualBlot(
        image=image,
        truth=truth,
        strips=pd.DataFrame(strip_rows, columns=["protein", "row0_px", "row1_px"]),
        lanes=pd.DataFrame({"lane": lane_ids, "label": list(lanes["label"]), "center_px": centers}),
        polarity=polarity,
        settings=s,
    )


def _write_image(path: Path, image: np.ndarray, fmt: str) -> Path:
    if fmt == "tiff":
        import tifffile

        return atomic_write(path, lambda p: tifffile.imwrite(p, image))
    import imageio.v3 as iio

    return atomic_write(path, lambda p: iio.imwrite(p, image, extension=".png"))


def _check_format(fmt: str, source: str) -> str:
    if fmt not in _FORMATS:
        raise LeptotwinError(
            "unknown image format", source=source, field="fmt", value=fmt,
            expected="one of " + ", ".join(_FORMATS),
        )  # fmt: skip
    return "tif" if fmt == "tiff" else "png"


def write_blot(
    blot: VirtualBlot,
    out_dir: str | os.PathLike[str],
    *,
    name: str = "blot",
    fmt: str = "tiff",
    per_strip: bool = False,
) -> dict[str, Path]:
    """Write the scan and its truth.

    Files (in ``out_dir``): ``{name}.tif`` (or ``.png``; with ``per_strip=True`` one image
    ``{name}_{protein}.tif`` per antibody strip instead), ``{name}_truth.csv`` (one row per band,
    columns of :attr:`VirtualBlot.truth`) and ``{name}.json`` (settings, polarity, image shape,
    strips, lanes and truth). Returns the paths by role (``image`` or ``image:<protein>``,
    ``truth``, ``sidecar``).
    """
    ext = _check_format(fmt, "write_blot")
    out = Path(out_dir)
    paths: dict[str, Path] = {}
    if per_strip:
        for protein, r0, r1 in blot.strips.itertuples(index=False):
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(protein))
            paths[f"image:{protein}"] = _write_image(
                out / f"{name}_{safe}.{ext}", np.ascontiguousarray(blot.image[r0 : r1 + 1]), fmt
            )
    else:
        paths["image"] = _write_image(out / f"{name}.{ext}", blot.image, fmt)
    paths["truth"] = write_csv(out / f"{name}_truth.csv", blot.truth)
    sidecar = {
        "kind": "western blot (virtual film scan)",
        "polarity": blot.polarity,
        "shape": list(blot.image.shape),
        "dtype": "uint16",
        "units": {"volume_true": "counts x px", "peak_darkening": "counts"},
        "settings": asdict(blot.settings),
        "strips": blot.strips.to_dict(orient="records"),
        "lanes": blot.lanes.to_dict(orient="records"),
        "truth": blot.truth.to_dict(orient="records"),
    }
    paths["sidecar"] = write_text(out / f"{name}.json", json.dumps(sidecar, indent=1, default=_js))
    return paths


def _js(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


# --------------------------------------------------------------------------------------------
# phospho-RTK array


def array_layout(settings: BlotSettings | None = None) -> pd.DataFrame:
    """The spot map of the virtual membrane.

    Returns
    -------
    DataFrame
        One row per spot: ``receptor, kind, row, col, x_px, y_px`` (kind ``reference``,
        ``negative`` or ``receptor``; duplicates are horizontally adjacent). Reference pairs sit
        at row 0, cols 0-1 and 22-23 and at row 4, cols 0-1; the PBS pair at row 4, cols 22-23.
    """
    s = settings if settings is not None else BlotSettings.from_catalog()
    rows: list[tuple[str, str, int, int]] = []
    for r, c in ((0, 0), (0, _ARRAY_COLS - 2), (_ARRAY_ROWS - 1, 0)):
        rows += [("Reference", "reference", r, c), ("Reference", "reference", r, c + 1)]
    slots = [(0, c) for c in range(2, _ARRAY_COLS - 2, 2)]
    slots += [(r, c) for r in range(1, _ARRAY_ROWS - 1) for c in range(0, _ARRAY_COLS, 2)]
    slots += [(_ARRAY_ROWS - 1, c) for c in range(2, _ARRAY_COLS - 2, 2)]
    for receptor, (r, c) in zip(ARRAY_RECEPTORS, slots, strict=False):
        rows += [(receptor, "receptor", r, c), (receptor, "receptor", r, c + 1)]
    r, c = _ARRAY_ROWS - 1, _ARRAY_COLS - 2
    rows += [("PBS", "negative", r, c), ("PBS", "negative", r, c + 1)]
    table = pd.DataFrame(rows, columns=["receptor", "kind", "row", "col"])
    table["x_px"] = s.array_margin + table["col"] * s.array_pitch
    table["y_px"] = s.array_margin + table["row"] * s.array_pitch
    return table


def simulate_array(
    phospho: pd.DataFrame,
    *,
    rng: np.random.Generator,
    settings: BlotSettings | None = None,
    polarity: str = "dark-on-light",
) -> VirtualArray:
    """Simulate one developed phospho-RTK membrane.

    Parameters
    ----------
    phospho : DataFrame
        ``receptor, level``: relative phospho level (>= 0) of each receptor; receptors of the
        kit that are not listed get 0 (only the non-specific signal).
    rng : numpy.random.Generator
    settings : BlotSettings, optional
    polarity : {"dark-on-light", "light-on-dark"}

    Returns
    -------
    VirtualArray

    Raises
    ------
    LeptotwinError
        Missing columns, a receptor not on the membrane, a negative or non-finite level.
    """
    src = "simulate_array"
    s = settings if settings is not None else BlotSettings.from_catalog()
    _check_polarity(polarity, src)
    _need_columns(phospho, ("receptor", "level"), src, "phospho")
    unknown = sorted(set(phospho["receptor"]) - set(ARRAY_RECEPTORS), key=str)
    if unknown:
        raise LeptotwinError(
            "receptor not on the membrane",
            source=src,
            field="phospho.receptor",
            value=unknown,
            expected="names of ARRAY_RECEPTORS",
        )
    level = _nonnegative(phospho, "level", src, "phospho.level", "phospho levels")
    levels = dict(zip(phospho["receptor"], level, strict=True))
    layout = array_layout(s)
    truth = layout.copy()
    truth["level"] = [
        s.array_reference_level if k == "reference" else (levels.get(rc, 0.0) if k == "receptor"
                                                          else 0.0)
        for rc, k in zip(layout["receptor"], layout["kind"], strict=True)
    ]  # fmt: skip
    noise = _lognormal(s.array_spot_cv, len(truth), rng)
    truth["volume_true"] = (
        (truth["level"] + s.array_nonspecific_level) * noise * s.array_volume_per_unit
    )
    n_cols = round(2 * s.array_margin + (_ARRAY_COLS - 1) * s.array_pitch)
    n_rows = round(2 * s.array_margin + (_ARRAY_ROWS - 1) * s.array_pitch)
    darkening = np.zeros((n_rows, n_cols))
    yy, xx = np.mgrid[0:n_rows, 0:n_cols]
    half = math.ceil(5 * s.array_spot_sigma)
    peaks = []
    for x0, y0, vol in zip(truth["x_px"], truth["y_px"], truth["volume_true"], strict=True):
        r0, r1 = max(int(y0) - half, 0), min(int(y0) + half + 1, n_rows)
        c0, c1 = max(int(x0) - half, 0), min(int(x0) + half + 1, n_cols)
        g = np.exp(
            -0.5
            * ((yy[r0:r1, c0:c1] - y0) ** 2 + (xx[r0:r1, c0:c1] - x0) ** 2)
            / s.array_spot_sigma**2
        )
        g *= vol / g.sum()
        darkening[r0:r1, c0:c1] += g
        peaks.append(float(g.max()))
    truth["saturated_true"] = np.asarray(peaks) > s.linear_limit
    image = _film(darkening, s, rng, polarity)
    return VirtualArray(
        image=image,
        layout=layout,
        truth=truth,
        pitch_px=s.array_pitch,
        origin_x_px=s.array_margin,
        origin_y_px=s.array_margin,
        spot_radius_px=0.4 * s.array_pitch,
        polarity=polarity,
        settings=s,
    )


def layout_csv_text(array: VirtualArray) -> str:
    """The layout file of a membrane (format in the module docstring)."""
    head = [
        "# leptotwin array layout v1",
        f"# pitch_px: {array.pitch_px:g}",
        f"# origin_x_px: {array.origin_x_px:g}",
        f"# origin_y_px: {array.origin_y_px:g}",
        f"# spot_radius_px: {array.spot_radius_px:g}",
    ]
    body = array.layout[["receptor", "kind", "row", "col"]].to_csv(index=False)
    return "\n".join(head) + "\n" + body


def write_array(
    array: VirtualArray,
    out_dir: str | os.PathLike[str],
    *,
    name: str = "rtk_array",
    fmt: str = "tiff",
) -> dict[str, Path]:
    """Write the membrane image, its layout and its truth.

    Files: ``{name}.tif`` (or ``.png``), ``{name}_layout.csv`` (the layout format of the module
    docstring), ``{name}_truth.csv`` (one row per spot) and ``{name}.json`` (settings, geometry,
    truth). Returns the paths by role (``image``, ``layout``, ``truth``, ``sidecar``).
    """
    ext = _check_format(fmt, "write_array")
    out = Path(out_dir)
    paths = {
        "image": _write_image(out / f"{name}.{ext}", array.image, fmt),
        "layout": write_text(out / f"{name}_layout.csv", layout_csv_text(array)),
        "truth": write_csv(out / f"{name}_truth.csv", array.truth),
    }
    sidecar = {
        "kind": "phospho-RTK membrane array (virtual film scan, ARY001B-like layout)",
        "polarity": array.polarity,
        "shape": list(array.image.shape),
        "dtype": "uint16",
        "pitch_px": array.pitch_px,
        "origin_x_px": array.origin_x_px,
        "origin_y_px": array.origin_y_px,
        "spot_radius_px": array.spot_radius_px,
        "units": {"volume_true": "counts x px", "level": "relative phospho units"},
        "settings": asdict(array.settings),
        "truth": array.truth.to_dict(orient="records"),
    }
    paths["sidecar"] = write_text(out / f"{name}.json", json.dumps(sidecar, indent=1, default=_js))
    return paths
