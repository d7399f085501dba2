"""Benchmark: open a large processed-mode imzML and make three ion images, leptotwin vs pyimzML.

The file: 40,000 pixels (200 x 200) x ~400 centroids per pixel (processed mode, float64 m/z,
float32 intensities), written once with pyimzML's ``ImzMLWriter`` into a temporary folder (or
``--dir``). Each tool runs in its own fresh Python process, end to end: parse the imzML, then
three ion images at ± 10 ppm (drug [M+H]+ of erlotinib, osimertinib and alectinib):

* pyimzML: ``ImzMLParser(path)`` + ``getionimage(p, mz, tol=mz * 1e-5)`` x 3;
* leptotwin: ``read_imzml(path)`` + ``ion_images([...], ppm=10)``.

Before the clock starts each process reads a 3 x 3 file once (warm-up: leptotwin's one-time
numba start-up, ~0.2 s per process, is printed as "start-up", not counted in the total).
Each is run ``--repeat`` times (best time reported; the first run of each also warms the page
cache; imports are done before the clock starts). Prints both times, the speed-up, the largest
difference between the images and each process's peak resident memory (ru_maxrss, which counts
the pages of memory-mapped files that were touched) and peak Python heap (tracemalloc, measured
in a separate untimed run because tracing slows allocation-heavy code).

Run: ``make bench`` or ``.venv/bin/python benchmarks/msi.py [--pixels N] [--peaks K]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MZ = (394.1761, 500.2768, 483.2755)
PPM = 10.0

_RUN = r"""
import json, resource, sys, time, tracemalloc
import numpy as np
tool, path, out, trace, warm = sys.argv[1:6]
trace = trace == "1"
mzs = [394.1761, 500.2768, 483.2755]
from pyimzml.ImzMLParser import ImzMLParser, getionimage
from leptotwin.analysis.msi import read_imzml
tw = time.perf_counter()  # warm-up on a 3 x 3 file: one-time start-up (numba cache load)
if tool == "pyimzml":
    with ImzMLParser(warm) as p:
        getionimage(p, 500.0, tol=0.01)
else:
    with read_imzml(warm) as d:
        d.ion_images([500.0], ppm=10.0)
warm_s = time.perf_counter() - tw
if trace:
    tracemalloc.start()
t0 = time.perf_counter()
if tool == "pyimzml":
    with ImzMLParser(path) as p:
        t1 = time.perf_counter()
        imgs = np.stack([getionimage(p, m, tol=m * 1e-5) for m in mzs])
else:
    with read_imzml(path) as d:
        t1 = time.perf_counter()
        imgs = d.ion_images(mzs, ppm=10.0)
t2 = time.perf_counter()
heap = tracemalloc.get_traced_memory()[1] if trace else 0
np.save(out, imgs)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"warmup_s": warm_s, "parse_s": t1 - t0, "images_s": t2 - t1, "total_s": t2 - t0,
                  "rss_MiB": rss, "heap_MiB": heap / 2**20}))
"""


def write_file(path: Path, n_pixels: int, peaks: int, seed: int = 1) -> None:
    """Processed imzML with ~``peaks`` centroids per pixel; drug ions in a third of pixels."""
    from pyimzml.ImzMLWriter import ImzMLWriter

    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_pixels)))
    base = np.sort(rng.uniform(150, 1000, peaks))
    with ImzMLWriter(str(path), mode="processed", polarity="positive") as w:
        for i in range(n_pixels):
            y, x = divmod(i, side)
            keep = rng.random(peaks) < 0.95
            mz = base[keep] * (1 + rng.normal(0, 2e-6, keep.sum()))
            it = rng.exponential(50, keep.sum())
            if i % 3 == 0:
                drug = np.array(MZ) * (1 + rng.normal(0, 2e-6, 3))
                mz = np.concatenate([mz, drug])
                it = np.concatenate([it, rng.exponential(200, 3)])
            o = np.argsort(mz)
            w.addSpectrum(mz[o], it[o].astype(np.float32), (x + 1, y + 1, 1))


def run_tool(tool: str, path: Path, out: Path, *, trace: bool = False) -> dict:
    warm = path.parent / "warmup.imzML"
    res = subprocess.run(
        [sys.executable, "-c", _RUN, tool, str(path), str(out), "1" if trace else "0", str(warm)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pixels", type=int, default=40_000)
    ap.add_argument("--peaks", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=None, help="keep the file here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "bench_processed.imzML"
        if not (folder / "warmup.imzML").exists():
            write_file(folder / "warmup.imzML", 9, 20, seed=2)
        if not path.exists():
            t = time.perf_counter()
            write_file(path, args.pixels, args.peaks)
            print(
                f"wrote {path.name}: {args.pixels} pixels x ~{args.peaks} peaks in "
                f"{time.perf_counter() - t:.1f} s; imzML {path.stat().st_size / 2**20:.0f} MiB, "
                f"ibd {path.with_suffix('.ibd').stat().st_size / 2**20:.0f} MiB"
            )
        results = {}
        for tool in ("pyimzml", "leptotwin"):
            runs = [run_tool(tool, path, folder / f"{tool}.npy") for _ in range(args.repeat)]
            results[tool] = min(runs, key=lambda r: r["total_s"])
            # peak Python heap in a separate run: tracemalloc slows allocation-heavy code
            results[tool]["heap_MiB"] = run_tool(tool, path, folder / "heap.npy", trace=True)[
                "heap_MiB"
            ]
        diff = np.abs(np.load(folder / "pyimzml.npy") - np.load(folder / "leptotwin.npy"))
        ref = np.abs(np.load(folder / "pyimzml.npy")).max()
    print(
        f"{'tool':<10} {'start-up s':>10} {'parse s':>9} {'3 images s':>11} {'total s':>9} "
        f"{'peak RSS MiB':>13} {'peak heap MiB':>14}"
    )
    for tool, r in results.items():
        print(
            f"{tool:<10} {r['warmup_s']:10.2f} {r['parse_s']:9.3f} {r['images_s']:11.3f} "
            f"{r['total_s']:9.3f} {r['rss_MiB']:13.0f} {r['heap_MiB']:14.1f}"
        )
    speed = results["pyimzml"]["total_s"] / results["leptotwin"]["total_s"]
    incl = (results["pyimzml"]["total_s"] + results["pyimzml"]["warmup_s"]) / (
        results["leptotwin"]["total_s"] + results["leptotwin"]["warmup_s"]
    )
    print(
        f"speed-up end to end: {speed:.1f}x (target >= 10x); {incl:.1f}x counting start-up; "
        f"max |difference| of the images {diff.max():.3g} (max intensity {ref:.3g})"
    )


if __name__ == "__main__":
    main()
