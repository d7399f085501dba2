"""The ``leptotwin`` command line: thin wrappers over ``leptotwin.study`` and ``.analysis``.

Every bad input ends as one line on stderr (``leptotwin: error: …``) and exit status 2; nothing is
written unless the whole command succeeds.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from leptotwin.errors import LeptotwinError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Digital twin and analysis toolkit for ALK-TKI resistance in leptomeningeal "
    "carcinomatosis (Arai et al., J Thorac Oncol 2020).",
)
_out = Console()
# options several commands share
_Force = Annotated[bool, typer.Option(help="Replace results already in --out.")]
_Workers = Annotated[int, typer.Option(help="Workers of a local cluster.")]
_err = Console(stderr=True, soft_wrap=True, highlight=False)
#: Parameter draws of a default `reproduce` (a small ensemble: about 1.5 min on 2 cores).
DEFAULT_ENSEMBLE = 20


@app.command()
def reproduce(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("results/reproduce"),
    seed: Annotated[int, typer.Option(help="Seed of the whole run.")] = 2020,
    force: _Force = False,
    quick: Annotated[bool, typer.Option(help="Smaller cohorts, for a preview.")] = False,
    section: Annotated[
        list[str] | None, typer.Option(help="Run only these sections (repeatable).")
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Exit with status 1 when a claim FAILs (a FAIL is a result).")
    ] = False,
    ensemble: Annotated[
        int | None,
        typer.Option(
            help="Also evaluate every claim on N parameter draws (posterior where calibrated, "
            f"priors elsewhere): claims_ensemble.csv with P(PASS) per claim. Default "
            f"{DEFAULT_ENSEMBLE} (0 with --quick); 200 for the issue-13 goal; 0: none."
        ),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option(help="Worker processes of the ensemble (default: all CPUs).")
    ] = None,
) -> None:
    """Run the whole study in silico: report.html, claims.csv and the tables behind them.

    claims.csv is the posterior-median run (the packaged values where nothing is calibrated);
    with --ensemble N, claims_ensemble.csv gives each claim's P(PASS) over N parameter draws.
    A claim that FAILs is a result of the run, reported in the table; the exit status is 0 unless
    the run itself fails, or ``--strict`` is given and a claim FAILs."""
    from leptotwin.study.reproduce import run_reproduce

    result = run_reproduce(
        out_dir=out,
        seed=seed,
        force=force,
        quick=quick,
        sections=section,
        progress=True,
        console=_out,
        command=" ".join(sys.argv),
        ensemble=ensemble if ensemble is not None else (0 if quick else DEFAULT_ENSEMBLE),
        jobs=jobs,
    )
    if strict and result.any_failed:
        _err.print("leptotwin: some claims FAIL (--strict)", markup=False)
        sys.exit(1)


@app.command("calibrate-study")
def calibrate_study(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("results/calibrate"),
    draws: Annotated[int | None, typer.Option(help="Posterior draws kept (default 1000).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sampler.")] = 2020,
    walkers: Annotated[
        int | None, typer.Option(help="emcee walkers (default: the job's; ≥ 2 × parameters).")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Steps per walker.")] = None,
    burn: Annotated[int | None, typer.Option(help="Burn-in steps.")] = None,
    jobs: Annotated[int | None, typer.Option(help="Worker processes (default 2).")] = None,
    quick: Annotated[bool, typer.Option(help="A smoke run in seconds, not a posterior.")] = False,
    install: Annotated[
        bool, typer.Option(help="Also install the posterior into the packaged catalogue.")
    ] = False,
    force: _Force = False,
    start_from: Annotated[
        Path | None,
        typer.Option(
            help="Warm start from an earlier run's posterior_draws.csv (no optimiser start).",
            metavar="<csv>",
        ),
    ] = None,
    replicates: Annotated[
        int | None,
        typer.Option(
            help="Cohorts of mice per draw in the importance stage (default 2; --quick 0; "
            "0 skips it)."
        ),
    ] = None,
    reweight_only: Annotated[
        bool,
        typer.Option(
            help="Only the importance stage, on a finished calibration (the installed one, "
            "or --from)."
        ),
    ] = False,
    source: Annotated[
        Path | None,
        typer.Option(
            "--from", help="With --reweight-only: a folder calibrate-study wrote.", metavar="<dir>"
        ),
    ] = None,
    unfitted: Annotated[
        str,
        typer.Option(
            help="Importance stage: values the sampler did not fit drawn from their 'prior' "
            "per draw (scored and kept in the draws; the default), or held at the 'catalogue' "
            "values."
        ),
    ] = "prior",
) -> None:
    """Rerun the joint calibration (emcee) from scratch: posterior draws, diagnostics, targets.

    Fits the uncertain parameters that drive the claims jointly against the targets in
    leptotwin/calibration/targets.yaml (published numbers and the study's findings, each with
    its measurement error); held-out targets are reported as predictions."""
    if reweight_only:
        from leptotwin.study.reweight_job import reweight_calibration

        rw = reweight_calibration(
            out_dir=out,
            source_dir=source,
            replicates=2 if replicates is None else replicates,
            jobs=2 if jobs is None else jobs,
            seed=seed,
            install=install,
            force=force,
            unfitted=unfitted,
            progress=lambda line: _err.print(line, markup=False),
        )
        for line in rw.summary_lines():
            _out.print(line, markup=False, soft_wrap=True)
        return
    if source is not None:
        raise LeptotwinError("--from belongs to --reweight-only", source="--from")
    from leptotwin.study.calibrate_job import run_calibrate_study

    outcome = run_calibrate_study(
        out_dir=out,
        draws=draws,
        seed=seed,
        walkers=walkers,
        steps=steps,
        burn=burn,
        jobs=jobs,
        quick=quick,
        install=install,
        force=force,
        start_from=start_from,
        replicates=replicates,
        unfitted=unfitted,
        progress=lambda line: _err.print(line, markup=False),
    )
    for line in outcome.summary_lines():
        _out.print(line, markup=False, soft_wrap=True)


@app.command()
def pk(
    drug: Annotated[str, typer.Option(help="Catalogue drug name.")],
    regimen: Annotated[str, typer.Option(help='e.g. "25 mg/kg QD" or "600 mg BID x 28 d".')],
    species: Annotated[str, typer.Option(help="mouse or human.")] = "human",
    days: Annotated[float, typer.Option(help="Simulated days.")] = 14.0,
    subjects: Annotated[
        int, typer.Option(help="Virtual subjects (variability from the catalogue).")
    ] = 1000,
    step_h: Annotated[float, typer.Option("--step-h", help="Output step (h).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("results/pk"),
    force: _Force = False,
) -> None:
    """Simulate plasma, unbound, CSF and lesion concentrations: pk.csv and pk.png.

    A dose far outside the doses studied for the drug in the species (catalogue) is simulated
    with one warning line on stderr; a run too large for the memory available is refused."""
    from leptotwin.study.pk import PKJob, dose_warnings_printed, run_pk_job

    job = PKJob(
        drug=drug,
        species=species,
        regimen=regimen,
        days=days,
        subjects=subjects,
        step_h=step_h,
        seed=seed,
    )
    with dose_warnings_printed(lambda line: _err.print(line, markup=False)):
        paths = run_pk_job(job, out, force=force)
    _out.print(f"wrote {paths['csv']} and {paths['png']}")


@app.command("fit-curves")
def fit_curves(
    data: Annotated[
        Path | None, typer.Argument(help="Tidy CSV with columns curve, dose, response.")
    ] = None,
    plate: Annotated[Path | None, typer.Option(help="Plate-reader export instead.")] = None,
    layout: Annotated[Path | None, typer.Option(help="Layout file for --plate.")] = None,
    model: Annotated[str, typer.Option(help="LL.2, LL.3, LL.4, LL.5 or W1.4.")] = "LL.4",
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("results/fit-curves"),
    force: _Force = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="A Dask scheduler address (tcp://HOST:8786): chunks of curves, sized "
            "automatically, are fitted on its workers; it helps only when they together fit much "
            "faster than this machine (reading and writing stay here). 'local' fits in this "
            "process, as without the option: the kernel already uses every core."
        ),
    ] = None,
    workers: _Workers = 2,
    match_drc: Annotated[
        bool,
        typer.Option(
            "--match-drc",
            help="Keep the sign of b that R drc's self-starter picks (drc 3.2-0's answer) "
            "instead of the lower RSS of both signs (W1.4, LL.5, LL.3, LL.2; LL.4 unaffected).",
        ),
    ] = False,
    figures: Annotated[
        str,
        typer.Option(
            help="summary (3 figures), all (and one per curve set) or none (tables only)."
        ),
    ] = "summary",
) -> None:
    """Fit dose-response curves (drc models, batched): fits.csv, qc.csv and figures."""
    from leptotwin.study.fit_curves import run_fit_curves

    paths = run_fit_curves(
        data=data,
        plate=plate,
        layout=layout,
        model=model,
        out_dir=out,
        force=force,
        scheduler=scheduler,
        n_workers=workers,
        match_drc=match_drc,
        figures=figures,
    )
    _out.print(f"wrote {len(paths)} files to {out}")


@app.command()
def elisa(
    plate: Annotated[Path, typer.Argument(help="Plate-reader export (CSV/TSV/XLSX).")],
    layout: Annotated[Path, typer.Option(help="ELISA layout file.")],
    model: Annotated[str, typer.Option(help="4PL or 5PL.")] = "4PL",
    weights: Annotated[str, typer.Option(help="1/y^2, 1/y or none.")] = "1/y^2",
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("results/elisa"),
    force: _Force = False,
) -> None:
    """ELISA standard curves and sample concentrations: samples.csv, standards.csv, curves.csv."""
    from leptotwin.study.elisa_job import run_elisa_job

    paths = run_elisa_job(
        plate=plate, layout=layout, model=model, weights=weights, out_dir=out, force=force
    )
    _out.print(f"wrote {len(paths)} files to {out}")


@app.command()
def qpcr(
    cts: Annotated[Path, typer.Argument(help="QuantStudio/StepOne/CFX export or tidy CSV.")],
    reference: Annotated[
        list[str],
        typer.Option(
            help='Reference gene for every target (GAPDH), or per target ("miR-449a=U6", '
            '"AREG=GAPDH+ACTB"). Repeatable.'
        ),
    ],
    calibrator: Annotated[str, typer.Option(help="Calibrator group (e.g. parental).")],
    method: Annotated[str, typer.Option(help="livak or pfaffl.")] = "livak",
    efficiencies: Annotated[
        Path | None,
        typer.Option(
            help="Pfaffl: a table gene,efficiency (0.95, 1.95 or 95 %) or a dilution series "
            "(target, Ct, quantity columns; fitted). Default: an Efficiency column of CTS."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("results/qpcr"),
    force: _Force = False,
) -> None:
    """Relative expression by ΔΔCt (Livak) or Pfaffl, with CIs: summary.csv and a figure."""
    from leptotwin.study.lab_jobs import run_qpcr_job

    result = run_qpcr_job(
        path=cts,
        reference=reference,
        calibrator=calibrator,
        method=method,
        efficiencies=efficiencies,
        out_dir=out,
        force=force,
    )
    for note in result.notes:
        _out.print(note, markup=False, highlight=False, soft_wrap=True)
    _out.print(f"wrote {len(result.paths)} files to {out}")


@app.command()
def blot(
    image: Annotated[Path, typer.Argument(help="Scanned blot or array (TIFF/PNG/JPEG).")],
    lanes: Annotated[int | None, typer.Option(help="Number of lanes (western blot).")] = None,
    layout: Annotated[
        Path | None,
        typer.Option(
            help="Blot layout (\\[strips] antibody per strip, \\[lanes] sample per lane) or "
            "membrane-array layout (receptor, row, col); told apart by the header."
        ),
    ] = None,
    strips: Annotated[
        int | None,
        typer.Option(help="Number of antibody strips (checked against those detected)."),
    ] = None,
    loading_control: Annotated[
        str | None,
        typer.Option(help='Loading-control strip: antibody name ("beta-actin") or number.'),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(help="Report only these strips (name or number; repeatable)."),
    ] = None,
    background: Annotated[str, typer.Option(help="tophat, rolling_ball, lane or none.")] = "tophat",
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("results/blot"),
    force: _Force = False,
) -> None:
    """Blot (strips x lanes) or array densitometry: volumes, ratios and an annotated image."""
    from leptotwin.study.lab_jobs import run_blot_job

    result = run_blot_job(
        image=image,
        lanes=lanes,
        layout=layout,
        strips=strips,
        loading_control=loading_control,
        targets=target,
        background=background,
        out_dir=out,
        force=force,
    )
    for note in result.notes:
        _out.print(note, markup=False, highlight=False, soft_wrap=True)
    _out.print(f"wrote {len(result.paths)} files to {out}")


@app.command()
def synergy(
    matrix: Annotated[Path, typer.Argument(help="SynergyFinder long-format CSV.")],
    method: Annotated[str, typer.Option(help="Comma-separated: ZIP,Bliss,HSA,Loewe,MuSyC.")] = (
        "ZIP,Bliss,HSA,Loewe"
    ),
    scale: Annotated[
        str | None,
        typer.Option(
            help="inhibition or viability. Without it, responses are % inhibition, but a table "
            "whose untreated cells read near full effect (viability?) is refused."
        ),
    ] = None,
    response_unit: Annotated[
        str | None,
        typer.Option(
            help="percent or fraction (0-1, multiplied by 100). Needed only for responses that "
            "look like fractions (median |response| <= 1.5, none beyond 10): refused otherwise."
        ),
    ] = None,
    zip_variant: Annotated[
        str,
        typer.Option(
            help="ZIP definition: yadav (Yadav 2015 / SynergyFinder 2.x, best fits), "
            "synergyfinder (SynergyFinder 3.7.x as published, drc's fits) or synergy "
            "(the Python package)."
        ),
    ] = "yadav",
    chunk_blocks: Annotated[int, typer.Option(help="Blocks scored per chunk.")] = 2000,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("results/synergy"),
    force: _Force = False,
    scheduler: Annotated[
        str | None, typer.Option(help="Score on Dask: 'local' or a scheduler address.")
    ] = None,
    workers: _Workers = 2,
    seed: Annotated[int, typer.Option(help="Bootstrap seed (with --scheduler).")] = 0,
    figures: Annotated[
        str,
        typer.Option(
            help="summary (top blocks' heatmaps, score histograms), all (and one per block and "
            "method) or none."
        ),
    ] = "summary",
) -> None:
    """Drug-combination synergy (ZIP, Bliss, HSA, Loewe, MuSyC) per dose and per block."""
    from rich.progress import Progress

    from leptotwin.study.synergy_job import run_synergy_job

    methods = [m.strip() for m in method.split(",") if m.strip()]
    with Progress(console=_err, transient=True, disable=not _err.is_interactive) as bar:
        task = bar.add_task("synergy", total=None)
        paths = run_synergy_job(
            matrix,
            methods,
            out,
            force,
            lambda msg: bar.update(task, description=msg),
            scale=scale,
            zip_variant=zip_variant,
            on_chunk=lambda done, total: bar.update(
                task, completed=done, total=total, description=f"chunks {done}/{total}"
            ),
            scheduler=scheduler,
            n_workers=workers,
            chunk_blocks=chunk_blocks,
            seed=seed,
            response_unit=response_unit,
            figures=figures,
            warn=lambda line: _err.print(line, markup=False),
        )
    _out.print(f"wrote {len(paths)} files to {out}")


@app.command()
def msi(
    imzml: Annotated[Path, typer.Argument(help=".imzML file (its .ibd beside it).")],
    mz: Annotated[
        list[float], typer.Option(help="m/z of an ion image (repeatable; distinct to 4 decimals).")
    ],
    ppm: Annotated[float, typer.Option(help="Tolerance (ppm, 0 < ppm <= 10000).")] = 10.0,
    roi: Annotated[Path | None, typer.Option(help="ROI mask PNG (non-zero = ROI).")] = None,
    tissue: Annotated[
        Path | None,
        typer.Option(
            help="Tissue mask PNG (non-zero = tissue) for the reference ring. Default: derived "
            "from the TIC (Otsu on the 3x3-median-smoothed ln TIC; all measured pixels when it "
            "shows no bare slide)."
        ),
    ] = None,
    hotspot_quantile: Annotated[
        float,
        typer.Option(
            help="Clip intensities above this quantile of tissue before ROI statistics "
            "(1: no clipping)."
        ),
    ] = 0.99,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("results/msi"),
    force: _Force = False,
) -> None:
    """Mass-spectrometry imaging: ion images (CSV, PNG) and ROI statistics over pixels with a
    spectrum; the reference ring around the ROI holds tissue only."""
    import pandas as pd

    from leptotwin.study.msi_job import image_stem, run_msi_job

    paths = run_msi_job(
        imzml,
        mz,
        ppm=ppm,
        roi_mask=roi,
        out_dir=out,
        force=force,
        tissue=tissue,
        hotspot_quantile=hotspot_quantile,
    )
    for m in mz:
        _out.print(f"m/z {m} ± {ppm:g} ppm: {image_stem(m)}.csv, .png", markup=False)
    stats = pd.read_csv(out / "roi_stats.csv")
    _out.print(
        f"tissue: {stats['tissue_mask'].iloc[0]}, {stats['tissue_pixels'].iloc[0]} pixels",
        markup=False,
        soft_wrap=True,
    )
    _out.print(f"wrote {len(set(paths))} files to {out}")


@app.command()
def simulate(
    protocol: Annotated[str, typer.Argument(help="Protocol YAML (or a packaged name: lmc_mouse).")],
    experiment: Annotated[
        str | None, typer.Option(help="Protocol block to run (default: the only or first).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("results/simulate"),
    seed: Annotated[int, typer.Option(help="Seed; subject j of an arm is the same mouse.")] = 0,
    n_per_arm: Annotated[int | None, typer.Option(help="Override the cohort size.")] = None,
    days: Annotated[float | None, typer.Option(help="Override the follow-up (days).")] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="'local' (a LocalCluster) or a scheduler address.")
    ] = None,
    workers: _Workers = 2,
    chunk_size: Annotated[int, typer.Option(help="Subjects per task.")] = 2000,
    catalog_overlay: Annotated[
        Path | None,
        typer.Option(
            help="overlay.yaml of leptotwin calibrate: its posterior medians replace "
            "the catalogue's values."
        ),
    ] = None,
    overlay_draws: Annotated[
        int,
        typer.Option(
            help="With --catalog-overlay: one cohort per each of K posterior draws (same mice), "
            "stacked with a 'draw' column: the parameters' uncertainty in the prediction."
        ),
    ] = 0,
    force: _Force = False,
) -> None:
    """Simulate a user's cohort protocol (optionally on a Dask cluster): tables of burden,
    survival and subjects.

    A block may declare `species: human` (virtual patients, 6 h step), `counterfactuals`
    (mir449a_restored, no_areg) and `parameters` (posterior-median; posterior with
    parameter_sets): the protocols `leptotwin explore` downloads reproduce its views. `site:
    subcutaneous` (mice) grows flank xenografts instead of LMC: caliper volumes
    (tumor_volume_mm3), e.g. with the overlay of a caliper calibration.

    Without --experiment the protocol's only or first block is run and one stderr line says
    which. The progress bar is drawn on a terminal only (off a terminal rich ends it with a
    blank line); doses far outside the studied range get one warning line on stderr."""
    from rich.progress import Progress

    from leptotwin.study.pk import dose_warnings_printed
    from leptotwin.study.simulate_job import run_simulate_job

    def chosen(name: str, names: list[str]) -> None:
        which = (
            "the protocol's only experiment"
            if len(names) == 1
            else f"the protocol's first of {len(names)}: {', '.join(names)}; choose with "
            "--experiment"
        )
        _err.print(f"leptotwin: simulating experiment {name!r} ({which})", markup=False)

    printed = dose_warnings_printed(lambda line: _err.print(line, markup=False))
    with printed, Progress(console=_err, transient=True, disable=not _err.is_interactive) as bar:
        task = bar.add_task("simulate", total=None)
        paths = run_simulate_job(
            protocol,
            out,
            experiment=experiment,
            n_per_arm=n_per_arm,
            days=days,
            seed=seed,
            scheduler=scheduler,
            n_workers=workers,
            chunk_size=chunk_size,
            catalog_overlay=catalog_overlay,
            overlay_draws=overlay_draws,
            force=force,
            progress=lambda msg: bar.update(task, description=msg),
            chosen=chosen,
        )
    _out.print(f"wrote {len(paths)} files to {out}")


@app.command("export-sbml")
def export_sbml(
    protocol: Annotated[str, typer.Argument(help="Protocol YAML (or a packaged name).")],
    arm: Annotated[str, typer.Option(help="Arm name as in the protocol.")],
    subject: Annotated[int, typer.Option(help="Subject index within the arm.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the cohort.")] = 0,
    experiment: Annotated[str | None, typer.Option(help="Protocol block.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output .xml file.")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Export one virtual subject as SBML Level 3 Version 2 (checked by libsbml)."""
    from leptotwin.study.pk import dose_warnings_printed
    from leptotwin.study.sbml_job import run_export_sbml

    with dose_warnings_printed(lambda line: _err.print(line, markup=False)):
        path = run_export_sbml(
            protocol,
            arm=arm,
            subject=subject,
            seed=seed,
            experiment=experiment,
            out=out,
            force=force,
        )
    _out.print(f"wrote {path}")


@app.command("export-petab")
def export_petab(
    experiment: Annotated[Path, typer.Argument(help="Experiment YAML (arms, data, observables).")],
    out: Annotated[Path, typer.Option(help="Output folder for the PEtab problem.")],
    force: Annotated[bool, typer.Option(help="Write into a non-empty folder.")] = False,
) -> None:
    """Write a lab's experiment as a PEtab v1 problem (SBML model, four tables, problem.yaml)."""
    from leptotwin.study.petab_job import run_export_petab

    exp, files = run_export_petab(experiment, out=out, force=force)
    _out.print(
        f"wrote {len(files)} files to {out}: {len(exp.measurements)} measurements "
        f"({exp.n_below_lloq} PK samples below LLOQ left out), {len(exp.estimate)} estimated"
    )


@app.command()
def calibrate(
    experiment: Annotated[
        Path | None,
        typer.Argument(help="Experiment YAML (arms, data, observables, estimate)."),
    ] = None,
    petab: Annotated[
        Path | None,
        typer.Option(help="Calibrate a PEtab problem that export-petab wrote (problem.yaml)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("results/calibrate-own"),
    draws: Annotated[int, typer.Option(help="Posterior draws kept.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the optimiser starts and the sampler.")] = 0,
    walkers: Annotated[
        int | None, typer.Option(help="emcee walkers (default max(8, 4 x values)).")
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(help="Steps per walker (default burn-in + max(300, draws/walkers))."),
    ] = None,
    burn: Annotated[int | None, typer.Option(help="Burn-in steps (default 100).")] = None,
    multistart: Annotated[
        int,
        typer.Option(
            help="Also run this many maximum-likelihood starts (L-BFGS-B, no priors, as "
            "pyPESTO): multistart.csv and a waterfall figure.",
            min=0,
        ),
    ] = 0,
    force: _Force = False,
) -> None:
    """Estimate the catalogue values an experiment file names from its data (emcee posterior):
    overlay.yaml for simulate --catalog-overlay, draws, diagnostics, fits, identifiability.

    The in-vivo likelihood is export-petab's (the typical mouse of each arm, the file's noise
    model); in-vitro viability data (data: viability:) add the twin's noise-free 72 h culture
    against each well, ELISA data (data: elisa:, observable supernatant_areg, pg/mL) its
    conditioned medium and qPCR fold changes (data: qpcr:, observable relative_expression,
    miR-449a and AREG vs a calibrator line) its cell-state levels; the priors are the
    catalogue's. See docs/petab.md. A population: block in the file adds population PK fits
    (FOCE-I, between-mouse variability; blq: m3 for samples below the LLOQ) of its drugs and
    matrices: population_<drug>_<matrix>.csv, its _eta.csv and population.md; an entry with
    observable: total_flux a population growth fit of the BLI data (log-linear mixed model,
    REML): population_growth.csv (examples/own-lab/README.md); a file with a population: block
    and no estimate: list runs those fits only. data: viability: may also name raw plate-reader
    exports and their layout ({plates: [...], layout: ...}, as fit-curves reads them)."""
    from leptotwin.study.calibrate_experiment import run_calibrate_experiment

    if (experiment is None) == (petab is None):
        raise LeptotwinError(
            "give an experiment file or --petab problem.yaml (one of them)",
            source="calibrate",
            expected="leptotwin calibrate experiment.yaml, or leptotwin calibrate --petab "
            "problem.yaml",
        )
    result, files = run_calibrate_experiment(
        petab if petab is not None else experiment,  # type: ignore[arg-type]
        out=out,
        petab=petab is not None,
        draws=draws,
        seed=seed,
        force=force,
        n_walkers=walkers,
        n_steps=steps,
        burn=burn,
        multistart=multistart,
        progress=lambda line: _err.print(f"leptotwin: {line}", markup=False),
    )
    for line in result.lines():
        _out.print(line, markup=False, soft_wrap=True)
    _out.print(f"wrote {len(files)} files to {out}", markup=False)


@app.command()
def catalog(
    check: Annotated[bool, typer.Option(help="List values without a primary source.")] = False,
    drug: Annotated[str | None, typer.Option(help="Show one drug only.")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
    bypass: Annotated[
        Path | None,
        typer.Option(
            help="A bypass.yaml of second bypass receptors (MET/HGF, ...; docs/model.md §2): "
            "checked against the catalogue and its values listed (without --drug).",
        ),
    ] = None,
) -> None:
    """List the parameter catalogue (values, units, sources; prior and posterior side by side).

    ``--drug`` shows the drug's own values and those named after it elsewhere (brain binding,
    studied doses; for a metabolite such as AZ5104 also its parent's metabolite ratio). The prior
    column gives the distribution and its 95 % range (the bounds for uniform and loguniform); the
    posterior column the median and 95 % interval from ``posterior.yaml`` of the catalogue folder
    (written by ``calibrate-study``), "—" where there is none. ``--csv`` adds ``prior_dist,
    prior_low, prior_high, prior_source, posterior_median, posterior_low, posterior_high``."""
    from leptotwin.catalog import load_catalog

    cat = load_catalog()
    if bypass is not None:
        cat = cat.with_bypass(bypass)
    table = cat.table() if drug is None else cat.drug_table(drug)
    if bypass is not None and drug is None:
        table = table[table["path"].str.startswith("bypass.")]
    if check:
        table = table[~table["primary_source"] | table["verify"]]
    if as_csv:
        sys.stdout.write(table.to_csv(index=False))
        return
    view = Table(
        title="leptotwin catalogue" + (" — values without a primary source" if check else ""),
        show_lines=False,
    )
    for col in ("path", "value", "unit", "flag", "prior", "posterior", "source"):
        view.add_column(col, overflow="fold")
    for row in table.itertuples():
        flag = (
            "setting"
            if row.setting
            else "assumption"
            if row.assumption
            else ("verify" if row.verify else ("" if row.primary_source else "no primary source"))
        )
        prior = (
            f"{row.prior_dist} {_g3(row.prior_low)}–{_g3(row.prior_high)}" if row.prior_dist else ""
        )
        posterior = (
            f"{_g3(row.posterior_median)} ({_g3(row.posterior_low)}–{_g3(row.posterior_high)})"
            if row.posterior_median == row.posterior_median  # not NaN
            else "—"
        )
        view.add_row(row.path, f"{row.value:g}", row.unit, flag, prior, posterior, row.source)
    _out.print(view)
    n_all = len(cat.table())
    _out.print(f"{len(table)} of {n_all} values shown")


@app.command()
def explore(
    host: Annotated[
        str, typer.Option(help="Address to bind (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one).")] = 8050,
) -> None:
    """The regimen explorer: the twin in your browser (a local web app; docs/explore.md).

    Species, protocol (shipped or your YAML), regimens side by side (up to 4), counterfactuals,
    cohort size and follow-up; exposure against potency, burden, survival and week-12 control
    with bands; downloads of the tables, a protocol for `simulate` and the SBML of one subject.
    Binds 127.0.0.1 unless --host says otherwise; Ctrl-C stops it."""
    from leptotwin.explore import serve

    if not 0 <= port <= 65535:
        raise LeptotwinError("port must be 0 to 65535", source="--port", value=port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        _err.print(
            f"leptotwin: warning: serving on {host}: anyone who can reach this address can run "
            "simulations here (there is no login)",
            markup=False,
        )

    def ready(bound: int) -> None:
        _out.print(f"leptotwin explore: open http://{host}:{bound}/ (Ctrl-C stops it)")

    try:
        serve(host, port, ready=ready)
    except OSError as exc:
        raise LeptotwinError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            source="--port",
            expected="a free port (or --port 0 for any free one)",
        ) from None


def _g3(x: float) -> str:
    """A number to three significant digits, without an exponent below 1e6 (1720, not 1.72e+03)."""
    return f"{float(f'{x:.3g}'):g}"


_INTERRUPTED = 130  # the shell's status for a command ended by SIGINT (128 + 2)
_TERMINATED = 143  # by SIGTERM (128 + 15)


def main() -> None:
    """Entry point: one line on stderr and a non-zero status for anything that goes wrong.

    Our errors (bad input, unwritable output) exit with 2, an interrupt (Ctrl-C) with 130, a
    SIGTERM with 143. In each case every file and folder the command had created is removed again
    (:func:`leptotwin._fileio.output_transaction`).
    """
    from leptotwin._fileio import os_error_message, output_transaction
    from leptotwin._sigint import interrupt_requested, interrupts_remembered

    try:
        with interrupts_remembered(), output_transaction():
            status = app(standalone_mode=False)
            # Typer turns Ctrl-C into Exit(130) and, without standalone mode, *returns* the
            # code of any Exit: an interrupt must still undo the outputs and reach the shell.
            # A Ctrl-C that some library swallowed on its way (leptotwin._sigint) is honoured
            # here, before the outputs are kept.
            if status == _INTERRUPTED or interrupt_requested():
                raise KeyboardInterrupt
    except LeptotwinError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _interrupted()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except MemoryError:
        _fail("not enough memory for this request; ask for fewer subjects, curves or time points")
    except OSError as exc:
        _fail(os_error_message(exc))
    except Exception as exc:
        # Usage errors of typer's (vendored) click: they carry format_message and exit_code.
        message = getattr(exc, "format_message", None)
        if callable(message):
            _fail(message())
        if type(exc).__name__ == "Abort":
            _interrupted()
        raise
    if isinstance(status, int) and status != 0:
        sys.exit(status)


def _fail(message: str) -> NoReturn:
    _err.print(f"leptotwin: error: {message}", markup=False)
    sys.exit(2)


def _interrupted() -> NoReturn:
    from leptotwin._sigint import termination_requested

    if termination_requested():  # SIGTERM: the shell's status 128 + 15
        _err.print("leptotwin: terminated; no partial results were kept", markup=False)
        sys.exit(_TERMINATED)
    _err.print("leptotwin: interrupted; no partial results were kept", markup=False)
    sys.exit(_INTERRUPTED)


def run() -> None:
    """The process entry point (the ``leptotwin`` command, ``python -m leptotwin.cli``):
    :func:`main`, and once it has ended on an interrupt, SIGINT is ignored while the interpreter
    shuts down. CPython puts SIGINT back to its default action when it finalises the signal
    module; a SIGINT arriving after that killed the process (status -2, seen once in about ten
    runs of a real Ctrl-C under load) although the outputs were removed and the message
    printed.

    The process's exit skips the garbage collector's passes over the objects still alive
    (:func:`leptotwin._exitgc.freeze_at_exit`, registered first so that it runs after every
    exit handler a command registers: about 0.3 s of a 1.2 s ``fit-curves`` run of 1,000
    curves); only the process entry point does this, not the library's functions."""
    import signal

    from leptotwin._exitgc import freeze_at_exit

    freeze_at_exit()
    try:
        main()
    except SystemExit as exc:
        if exc.code in (_INTERRUPTED, _TERMINATED):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise


if __name__ == "__main__":
    run()
