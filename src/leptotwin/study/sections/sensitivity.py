"""Report section: global sensitivity of every claim readout and human prediction (issue 13.4).

Which uncertain catalogue values drive each claim's readout and each human or PK prediction? A
Morris screen (SALib, :mod:`leptotwin.calibration.sensitivity`) of the noise-free readouts
(:mod:`leptotwin.calibration.readouts`) over the priors of all uncertain values, sampled in
probability space.

- Full run, two stages: (1) grouped Morris over catalogue blocks (one factor per block, e.g.
  ``pathway``, ``A925L/AR cell line``, ``alectinib mouse PK``: r·(G + 1) evaluations); (2) per
  readout family (in vitro C1, C3–C6; C2; C7; C8; C9; PK and human), ungrouped Morris over the
  single values of that family's influential blocks, evaluating that family's readouts only (so
  the cheap in-vitro plate does not pay for the virtual mice's parameters, nor the reverse).
- Quick run: grouped Morris only, over coarser blocks (one per drug, all assay kits together)
  and fewer trajectories.

Folds, ratios, IC50s and concentrations are analysed as log10 (an effect is then a fold-change);
fractions, probabilities and times as they are (:func:`log_scale`). Infinite readouts (beyond
what they can measure) are censored at the design's largest finite value; NaN drops the
trajectory for that readout (see :mod:`leptotwin.calibration.sensitivity`).

Outputs: ``sensitivity_morris.csv`` (``stage, readout, factor, mu_star, sigma, conf, rank``,
with μ, relative μ*, members and units), ``sensitivity_readouts.csv`` (per readout: claims,
unit, scale, family, value at the catalogue, non-finite and infinite fractions), in full runs
``sensitivity_selected.csv`` (the parameters that drive the claims' readouts, for the
calibration to consider), one tornado figure per claim (a panel per readout) and one per group
of human or PK readouts (``PK.human.alectinib``, …).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leptotwin.calibration.sensitivity import (
    DEFAULT_TAIL,
    MorrisResult,
    ReadoutFn,
    TwoStageResult,
    morris_screen,
    select_parameters,
    tornado_figure,
    two_stage_screen,
)
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.study.reproduce import Context, SectionResult, register_section

#: Quick run: grouped Morris only, over coarse groups, with this many trajectories.
QUICK_TRAJECTORIES = 3
QUICK_GROUPS = "coarse"
#: Full run: stage-1 trajectories (catalogue blocks) and stage-2 trajectories (single values).
FULL_TRAJECTORIES = 6
STAGE2_TRAJECTORIES = 6
#: Stage 2 resolves, per family, each readout's top blocks with μ* ≥ threshold × its largest,
#: at most this many values per family (the virtual-mouse families cost ~50-80 ms an
#: evaluation; the PK and human predictions ~3 ms and have no cap).
TOP_GROUPS = 2
GROUP_THRESHOLD = 0.1
MAX_STAGE2_PARAMETERS = 30
STAGE2_CAPS: dict[str, int | None] = {
    "in vitro": MAX_STAGE2_PARAMETERS,
    "C2": MAX_STAGE2_PARAMETERS,
    "C7": MAX_STAGE2_PARAMETERS,
    "C8": MAX_STAGE2_PARAMETERS,
    "C9": MAX_STAGE2_PARAMETERS,
    "predictions": None,
}
#: Factors per tornado panel and per line of text; smallest relative μ* named in the text.
TOP_FIGURE = 8
TOP_TEXT = 3
MIN_TEXT_REL = 0.05
#: A readout whose NaNs were imputed in more than this fraction of evaluations is left out of
#: the per-claim driver lines and of the parameter selection (its effects are mostly spurious).
MAX_IMPUTED = 0.25
#: Claims whose readouts share the in-vitro plate (one family in stage 2).
IN_VITRO_CLAIMS = frozenset({"C1", "C3", "C4", "C5", "C6"})


@dataclass(frozen=True)
class ReadoutInfo:
    """What the section needs to know about a readout."""

    name: str
    unit: str
    description: str
    claims: tuple[str, ...]


@dataclass(frozen=True)
class ReadoutSource:
    """Readouts to screen: ``fn(catalog)`` → every readout; ``subset(names)`` → a function that
    evaluates only ``names`` (optional: without it ``fn`` is called and filtered)."""

    fn: ReadoutFn
    infos: tuple[ReadoutInfo, ...]
    subset: Callable[[Sequence[str]], ReadoutFn] | None = None


def default_readouts() -> ReadoutSource:
    """The calibration's readouts (:data:`leptotwin.calibration.readouts.READOUTS`)."""
    from leptotwin.calibration.readouts import READOUTS, evaluate_readouts

    def subset(names: Sequence[str]) -> ReadoutFn:
        chosen = list(names)
        return lambda c: evaluate_readouts(c, chosen)

    infos = tuple(
        ReadoutInfo(r.name, r.unit, r.description, tuple(r.claims)) for r in READOUTS.values()
    )
    return ReadoutSource(evaluate_readouts, infos, subset)


def log_scale(info: ReadoutInfo) -> bool:
    """Positive multiplicative readouts (folds, ratios, IC50s, concentrations) are analysed as
    log10; fractions, probabilities and times (days, hours; a relapse day may be 0) are not."""
    last = info.name.rsplit(".", 1)[-1]
    linear = (
        info.unit in ("d", "h")
        or last.startswith("p_")
        or any(k in last for k in ("inhibition", "fraction"))
    )
    return not linear


def family(info: ReadoutInfo) -> str:
    """The stage-2 family of a readout: ``in vitro`` (C1, C3–C6), its first claim, or
    ``predictions`` (PK and human readouts)."""
    if not info.claims:
        return "predictions"
    if set(info.claims) <= IN_VITRO_CLAIMS:
        return "in vitro"
    return sorted(info.claims, key=_claim_key)[0]


def _claim_key(claim: str) -> tuple[int, str]:
    digits = "".join(ch for ch in claim if ch.isdigit())
    return (int(digits) if digits else 99, claim)


def claim_readouts(infos: Sequence[ReadoutInfo]) -> dict[str, list[str]]:
    """Claim id → its readouts, claims in order C1, C2, …"""
    out: dict[str, list[str]] = {}
    for info in infos:
        for c in info.claims:
            out.setdefault(c, []).append(info.name)
    return {c: out[c] for c in sorted(out, key=_claim_key)}


def prediction_groups(infos: Sequence[ReadoutInfo]) -> dict[str, list[str]]:
    """Readouts of no claim (PK and human predictions) by their name's first three parts
    (``PK.human.alectinib``): one figure each."""
    out: dict[str, list[str]] = {}
    for info in infos:
        if not info.claims:
            out.setdefault(".".join(info.name.split(".")[:3]), []).append(info.name)
    return out


def _screen(
    ctx: Context, common: dict, families: dict[str, list[str]], source: ReadoutSource
) -> MorrisResult | TwoStageResult:
    if ctx.quick:
        return morris_screen(**common, groups=QUICK_GROUPS, trajectories=QUICK_TRAJECTORIES)
    return two_stage_screen(
        **common,
        families=families,
        subset_fn=source.subset,
        trajectories=FULL_TRAJECTORIES,
        stage2_trajectories=STAGE2_TRAJECTORIES,
        top_groups=TOP_GROUPS,
        threshold=GROUP_THRESHOLD,
        max_parameters={f: STAGE2_CAPS.get(f, MAX_STAGE2_PARAMETERS) for f in families},
    )


def run_screen(
    ctx: Context,
    *,
    source: ReadoutSource | None = None,
    catalog: Catalog | None = None,
    parameters: Sequence[str] | None = None,
) -> tuple[MorrisResult | TwoStageResult, pd.DataFrame]:
    """The section's screen (quick: grouped; full: two-stage by family) and readouts table."""
    cat = catalog if catalog is not None else load_catalog()
    source = source if source is not None else default_readouts()
    infos = list(source.infos)
    names = [r.name for r in infos]

    def idle(*_: object, **__: object) -> None:
        return None

    count: list[Callable[..., None]] = [idle]  # the progress step while screening

    def fn(c: Catalog) -> Mapping[str, float]:
        out = source.fn(c)
        count[0]()
        return {n: out.get(n, math.nan) for n in names}

    logged = [r.name for r in infos if log_scale(r)]
    common = {
        "catalog": cat,
        "readout_fn": fn,
        "parameters": parameters,
        "seed": ctx.rng,
        "on_error": "nan",
        "readout_units": {r.name: r.unit for r in infos},
        "log10": logged,
        "nan_policy": "auto",
    }
    families: dict[str, list[str]] = {}
    for r in infos:
        families.setdefault(family(r), []).append(r.name)
    result: MorrisResult | TwoStageResult
    # the screen's length is known only once stage 1 has chosen stage 2's parameters: count
    # the parameter sets evaluated (the runner's second bar)
    with ctx.task("Morris screen: parameter sets evaluated") as step:
        count[0] = step
        result = _screen(ctx, common, families, source)
    count[0] = idle
    at_catalogue = fn(cat)
    first = result.stage1 if isinstance(result, TwoStageResult) else result
    table = pd.DataFrame(
        {
            "readout": names,
            "claims": [" ".join(r.claims) for r in infos],
            "unit": [r.unit for r in infos],
            "scale": ["log10" if n in logged else "linear" for n in names],
            "family": [family(r) for r in infos],
            "at_catalogue": [float(at_catalogue[n]) for n in names],
            "nonfinite_fraction": [first.nonfinite.get(n, math.nan) for n in names],
            "infinite_fraction": [first.censored.get(n, math.nan) for n in names],
            "imputed_fraction": [first.imputed.get(n, math.nan) for n in names],
        }
    )
    if isinstance(result, TwoStageResult):
        table["nonfinite_stage2"] = [result.stage2.nonfinite.get(n, math.nan) for n in names]
        table["imputed_stage2"] = [result.stage2.imputed.get(n, math.nan) for n in names]
    table["description"] = [r.description for r in infos]
    return result, table


def _morris_table(result: MorrisResult | TwoStageResult) -> pd.DataFrame:
    stages = (
        [("groups", result.stage1), ("parameters", result.stage2)]
        if isinstance(result, TwoStageResult)
        else [("groups" if result.grouped else "parameters", result)]
    )
    frames = []
    for stage, res in stages:
        f = res.to_frame()
        f.insert(0, "stage", stage)
        f.insert(3, "scale", np.where(f["readout"].isin(res.log10), "log10", "linear"))
        frames.append(f)
    out = pd.concat(frames, ignore_index=True)
    first = ["stage", "readout", "factor", "mu_star", "sigma", "conf", "rank"]
    return out[first + [c for c in out.columns if c not in first]]


def _drivers(result: MorrisResult, readouts: Sequence[str], top: int) -> list[tuple[str, float]]:
    """The ``top`` factors by mean relative μ* over ``readouts`` (NaN-skipping), with it."""
    sub = result.table[result.table["readout"].isin(readouts)]
    mean = sub.groupby("factor", sort=False)["mu_star_rel"].mean().dropna()
    mean = mean[mean >= MIN_TEXT_REL].sort_values(ascending=False, kind="stable")
    return [(f, float(v)) for f, v in mean.head(top).items()]


def _driver_text(result: MorrisResult, readouts: Sequence[str]) -> str:
    drivers = _drivers(result, readouts, TOP_TEXT)
    if not drivers:
        return "nothing moves it (or no finite readout)"
    return ", ".join(f"{f} ({v:.2f})" for f, v in drivers)


def _figure_result(
    result: MorrisResult | TwoStageResult, names: Sequence[str]
) -> tuple[MorrisResult, list[str], str]:
    """The screen a figure of ``names`` draws from: stage 2 for the readouts it resolved."""
    if isinstance(result, TwoStageResult):
        resolved = [n for n in names if n in set(result.stage2.table["readout"])]
        if resolved:
            return result.stage2, resolved, "single values inside the influential blocks"
        return result.stage1, list(names), "catalogue blocks (no block to resolve)"
    return result, list(names), "catalogue blocks"


def _design_text(result: MorrisResult | TwoStageResult) -> str:
    stage1 = result.stage1 if isinstance(result, TwoStageResult) else result
    n_groups = len(stage1.factors)
    n_params = int(stage1.factors["n_members"].sum())
    if not isinstance(result, TwoStageResult):
        return (
            f"Quick run: the {n_params} uncertain values screened in {n_groups} coarse groups "
            f"only (one per drug, all assay kits together; grouped Morris, r = "
            f"{stage1.trajectories} trajectories, {result.n_evaluations} model evaluations); the "
            "full run screens the catalogue blocks, then the single values of the influential "
            "ones."
        )
    fam = "; ".join(
        f"{name}: {', '.join(v['kept']) or 'none'} ({v['n_evaluations']} evaluations"
        + (f"; not resolved for budget: {', '.join(v['unresolved'])}" if v["unresolved"] else "")
        + ")"
        for name, v in result.families.items()
    )
    return (
        f"Stage 1 screened the {n_params} uncertain values in {n_groups} catalogue blocks "
        f"(grouped Morris, r = {stage1.trajectories} trajectories, {stage1.n_evaluations} "
        f"evaluations of every readout). Stage 2 screened, per readout family, the single values "
        f"of the blocks among each readout's top {TOP_GROUPS} (μ* ≥ {GROUP_THRESHOLD:g} × its "
        f"largest; at most {MAX_STAGE2_PARAMETERS} values per family, the cheap PK and human "
        f"predictions without a cap; r = "
        f"{result.stage2.trajectories}), evaluating that family's readouts only — {fam}. "
        f"{result.n_evaluations} model evaluations in all."
    )


def _nonfinite_text(table: pd.DataFrame) -> str:
    bad = table[table["nonfinite_fraction"] > 0]
    if bad.empty:
        return "Every readout was finite at every design point of stage 1."
    return (
        "Readouts not finite at some design points (fraction of stage 1's evaluations; of "
        "them, infinite): "
        + ", ".join(
            f"{r.readout} {100 * r.nonfinite_fraction:.0f} % ({100 * r.infinite_fraction:.0f} %)"
            for r in bad.itertuples()
        )
        + ". An infinite readout is beyond what it can measure (an IC50 above 1 mM, no relapse "
        "within the follow-up): it is censored at the largest finite value of that readout in "
        "the design, so a step into that region counts as at least the jump to it. A NaN (the "
        "model cannot produce the value, e.g. a ratio of two infinite IC50s or the AREG-high "
        "share at a relapse that does not happen) drops its trajectory for that readout only, "
        "unless that would keep fewer than half of the trajectories: then NaN is replaced by "
        "the readout's median, which keeps every trajectory but adds spurious effects at the "
        "NaN points (imputed: "
        + (
            ", ".join(
                f"{r.readout} {100 * r.imputed_fraction:.0f} %"
                for r in table.itertuples()
                if r.imputed_fraction > 0
            )
            or "none"
        )
        + "). Large fractions say that the priors reach regions where the readout leaves its "
        "range."
    )


def build_section(
    ctx: Context,
    *,
    source: ReadoutSource | None = None,
    catalog: Catalog | None = None,
    parameters: Sequence[str] | None = None,
) -> SectionResult:
    """The section for a readout source (default: the calibration's readouts)."""
    source = source if source is not None else default_readouts()
    result, readout_table = run_screen(ctx, source=source, catalog=catalog, parameters=parameters)
    two = isinstance(result, TwoStageResult)
    stage1 = result.stage1 if two else result
    by_claim = claim_readouts(source.infos)
    predictions = prediction_groups(source.infos)
    descriptions = {r.name: r.description for r in source.infos}
    unreliable = set(_unreliable(result))
    figures, lines = [], []
    for head, names in [*by_claim.items(), *predictions.items()]:
        res, drawn, level = _figure_result(result, names)
        caption = (
            f"{head}: what drives its readouts (Morris μ* with 95 % bootstrap interval; "
            f"{level}; log10 readouts: μ* is a change in log10)."
            if head in by_claim
            else f"{head}: what drives its readouts (relative Morris μ*, mean over the "
            f"readouts, bars their range; {level}); per readout in sensitivity_morris.csv."
        )
        if head not in by_claim:
            caption += " " + "; ".join(
                f"{n.removeprefix(head + '.')}: {descriptions[n]}" for n in names
            )
        fig = tornado_figure(res, drawn, top=TOP_FIGURE, title=head, combine=head not in by_claim)
        figures.append((caption, fig))
        n = len(names)
        used = [x for x in drawn if x not in unreliable]
        line = f"- **{head}** ({n} readout{'s' if n > 1 else ''}): {_driver_text(res, used)}"
        if two and res is not stage1:
            line += f"; blocks: {_driver_text(stage1, [x for x in names if x not in unreliable])}"
        left_out = [x for x in names if x in unreliable]
        if left_out:
            line += f" (left out, mostly imputed: {', '.join(left_out)})"
        lines.append(line)
    text = (
        "**Method.** Morris elementary effects (Morris 1991; μ*, Campolongo et al. 2007) with "
        "SALib 1.6, on the calibration's noise-free readouts (a typical subject or the mean "
        "cell; the same model code as the sections, without instrument noise). **Sampling "
        "space:** each uncertain value moves in its prior's probability space, θ = F⁻¹(u) on "
        f"a {stage1.levels}-level grid of u, over the whole range of uniform and log-uniform "
        f"priors and the central {100 * (1 - 2 * DEFAULT_TAIL):g} % of lognormal, normal and "
        "logit-normal ones (their stated 95 % range); one catalogue per design point. μ* is "
        "the mean absolute change of the readout per unit of prior probability (steps of 2/3), "
        "in the readout's unit or in log10 for folds, ratios, IC50s and concentrations; σ is "
        "the spread of the effects (interactions or non-linearity; undefined for a block of "
        f"several values). {_design_text(result)} {_nonfinite_text(readout_table)}\n\n"
        "**What drives each claim and prediction** (relative μ*: mean over the readouts of μ* "
        "/ the readout's largest; at most three, ≥ "
        f"{MIN_TEXT_REL:g}):\n" + "\n".join(lines)
    )
    tables = {
        "sensitivity_morris.csv": _morris_table(result),
        "sensitivity_readouts.csv": readout_table,
    }
    if two:
        tables["sensitivity_selected.csv"] = _selected_table(result, source.infos)
    return SectionResult(
        title="Global sensitivity: what drives each claim and prediction",
        text=text,
        figures=figures,
        tables=tables,
    )


def _unreliable(result: MorrisResult | TwoStageResult) -> list[str]:
    """Readouts whose NaNs were imputed in more than MAX_IMPUTED of either stage."""
    stages = [result.stage1, result.stage2] if isinstance(result, TwoStageResult) else [result]
    return sorted({n for st in stages for n, f in st.imputed.items() if f > MAX_IMPUTED})


def _selected_table(result: TwoStageResult, infos: Sequence[ReadoutInfo]) -> pd.DataFrame:
    """The parameters that drive the claims' readouts (select_parameters), with what they
    drive; mostly imputed readouts left out."""
    unreliable = set(_unreliable(result))
    claim_names = [r.name for r in infos if r.claims and r.name not in unreliable]
    resolved = set(result.stage2.table["readout"])
    chosen = select_parameters(result, [n for n in claim_names if n in resolved], top=TOP_TEXT)
    st2 = result.stage2.table
    units = result.stage2.factors.set_index("factor")["unit"]
    top = st2[
        (st2["mu_star_rel"] >= GROUP_THRESHOLD)
        & (st2["rank"] <= TOP_TEXT)
        & st2["readout"].isin(claim_names)
    ]
    return pd.DataFrame(
        {
            "parameter": chosen,
            "unit": [units.loc[p] for p in chosen],
            "drives": [" ".join(top[top["factor"] == p]["readout"]) for p in chosen],
        }
    )


@register_section("sensitivity", order=85)
def sensitivity(ctx: Context) -> SectionResult:
    """Morris screen of every claim readout and human prediction over the priors."""
    return build_section(ctx)
