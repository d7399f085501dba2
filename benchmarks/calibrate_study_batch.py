"""Benchmark: the study likelihood of ``leptotwin calibrate-study``, walker by walker vs batched.

K parameter sets of the calibrated values (:data:`~leptotwin.calibration.calibrate.
DEFAULT_PARAMETERS`, drawn in the prior's normal space with SD ``--spread`` around the prior
medians, so that most sets reach every target) are scored once one at a time
(:class:`~leptotwin.calibration.calibrate.CatalogLogLikelihood`, what emcee called per walker)
and once as one batch (:meth:`~leptotwin.calibration.calibrate.CatalogLogLikelihood.batch`: the
typical mice of C2 and C7 of all K sets as the rows of one array). Checks that both give the same
numbers to the bit, and prints ms per evaluation of each (best of ``--repeat``) and of the mice
alone (C2 and C7 readouts).

Both paths run the same (new) code: one at a time is the batched scheme with K = 1
(:func:`~leptotwin.calibration.readouts.evaluate_readouts` goes through the same
``_mice_batch`` and ``_invitro_plates``), so "same to the bit" says that a parameter set's values
do not depend on the rest of its batch, not that they equal the code before the batch (the
walker-by-walker scheme it replaced is not run here). The timing "one at a time" is likewise the
K = 1 batch, not the older code. (``cal._role`` is private: there is no public name for a
target's role.)

Run: ``nice -n 19 .venv/bin/python benchmarks/calibrate_study_batch.py [--k 56] [--repeat 2]``.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from _cli import machine  # benchmarks/_cli.py (run as a script: its folder is on sys.path)
from leptotwin.calibration import calibrate as cal
from leptotwin.calibration.readouts import READOUTS, evaluate_readouts, evaluate_readouts_many
from leptotwin.calibration.sampler import ZTransform
from leptotwin.calibration.targets import load_targets
from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError


def best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=56, help="parameter sets per batch")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--spread", type=float, default=0.3, help="SD in the prior's normal space")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    print(machine())
    cat = load_catalog()
    used = [t for t in load_targets() if cal._role(t) == "used"]
    tr = ZTransform(cal.parameter_specs(cat, cal.DEFAULT_PARAMETERS))
    th = tr.to_theta(a.spread * np.random.default_rng(a.seed).standard_normal((a.k, tr.ndim)))
    loglik = cal.CatalogLogLikelihood(cat, tr.names, used)
    loglik.batch(th[:2])  # warm-up (imports, protocols)

    def scalar() -> np.ndarray:
        out = []
        for t in th:
            try:
                out.append(loglik(t))
            except (LeptotwinError, ArithmeticError, ValueError):
                out.append(-math.inf)
        return np.array(out)

    t_one, v_one = best(scalar, a.repeat)
    t_batch, v_batch = best(lambda: loglik.batch(th), a.repeat)
    same = bool(np.array_equal(v_one, v_batch))  # type: ignore[arg-type]
    finite = int(np.isfinite(v_batch).sum())  # type: ignore[arg-type]
    cats = [cat.with_values(dict(zip(tr.names, map(float, t), strict=True))) for t in th]
    mice = [n for n in READOUTS if n.startswith(("C2.", "C7."))]
    t_mice_one, _ = best(lambda: [evaluate_readouts(c, mice) for c in cats], a.repeat)
    t_mice_batch, _ = best(lambda: evaluate_readouts_many(cats, mice), a.repeat)
    ms = 1e3 / a.k
    print(f"K = {a.k} parameter sets ({finite} with a finite log likelihood), best of {a.repeat}")
    print(
        f"log likelihood: one at a time {t_one * ms:.1f} ms/evaluation, batched "
        f"{t_batch * ms:.1f} ms/evaluation ({t_one / t_batch:.2f}x); batch = K x (K = 1) "
        f"to the bit: {same}"
    )
    print(
        f"C2 + C7 mice alone: one at a time {t_mice_one * ms:.1f} ms/set, batched "
        f"{t_mice_batch * ms:.1f} ms/set ({t_mice_one / t_mice_batch:.2f}x)"
    )


if __name__ == "__main__":
    main()
