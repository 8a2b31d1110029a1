"""``hwplan validate`` and ``hwplan calibrate``: accuracy on measurements, and fitting to them."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.app import CatalogOpt, JsonOpt, OverlayOpt, app, load, print_doc

if TYPE_CHECKING:
    from rich.console import Console

    from hardware_catalog.inputs.measurements import BadRecord, MeasurementsRead
    from hardware_catalog.outputs import CrossValidationOut, SkippedOut, SummaryOut
    from planner.calibration.fit import FitResult
    from planner.calibration.predict import Measurement, RecordSet
    from planner.domain import Catalog, Efficiency

__all__ = ["calibrate_cmd", "load_records", "validate_cmd"]


def load_records(paths: Sequence[Path]) -> tuple[list[MeasurementsRead], list[Measurement], list[BadRecord]]:
    """Read every file; a record id seen in an earlier file is a bad record."""
    from hardware_catalog.inputs.measurements import BadRecord, read_measurements

    reads = [read_measurements(p) for p in paths]
    records: list[Measurement] = []
    bad: list[BadRecord] = []
    seen: set[str] = set()
    for r in reads:
        bad.extend(r.bad)
        for m in r.records:
            if m.id in seen:
                bad.append(BadRecord(m.id, "id", f"duplicate id (again in {r.file})"))
            else:
                seen.add(m.id)
                records.append(m)
    return reads, records, bad


def _summary_table(console: Console, title: str, summary: dict[str, SummaryOut], key: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in (key, "n", "median APE", "p90 APE", "within 25%"):
        table.add_column(col)
    for name, s in summary.items():
        # with records, a value without a number is an infinite error (records past the model's capacity)
        pct = [("inf" if s.n else "—") if v is None else f"{100 * v:.1f}%"
               for v in (s.median_ape, s.p90_ape, s.within_25pct)]
        table.add_row(name, str(s.n), *pct)
    console.print(table)


def _shown(value: float | None) -> str:
    """A figure of the validate table: whole with thousands separators from 1,000 on, else 4 significant digits (the
    JSON keeps every digit); — where there is none."""
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


@app.command("validate")
def validate_cmd(
    file: Annotated[Path, typer.Argument(help="Measurements file (canonical format).")],
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Predict every record of a measurements file with the catalog's calibration; report errors."""
    from rich.table import Table

    from cli.output.console import Console
    from hardware_catalog.inputs.measurements import require_predictable
    from hardware_catalog.outputs import TUNED_TP, validation_out
    from planner.calibration.predict import predict_calibrated, prepare
    from planner.model.grid import CatalogTables

    cat = load(catalog, add)
    reads, records, bad = load_records([file])
    tables = CatalogTables.from_catalog(cat)
    rs, skipped = prepare(cat, tables, records)
    require_predictable(len(rs), len(records) + len(bad), skipped, bad)
    report = validation_out(rs, predict_calibrated(tables, rs, cat.calibration), bad, skipped,
                            [i for r in reads for i in r.ignored])
    if as_json:
        print_doc(report)
        return
    console = Console()
    # a record's id on a row of its own, folded over lines where long (a cut id names no record), its metrics below
    # it; the numbers are never cut (at 80 columns a column of ids beside them had cut 785,520 to "785520…")
    table = Table(title=f"{file.name}: predicted / observed")
    table.add_column("record / metric", overflow="fold",
                     min_width=max((len(m) for r in report.records for m in r.observed), default=6))
    for col in ("tp", "predicted", "observed", "APE"):
        table.add_column(col, no_wrap=True)
    unsteady = False
    for rec in report.records:
        tp = {"stated": f"{rec.tp}", "tuned": f"{rec.tp} tuned", "pools": f"{rec.tp} decode"}[rec.tp_source]
        table.add_row(rec.id, tp, "", "", "")
        for n, (metric, observed) in enumerate(rec.observed.items()):
            ape, predicted = rec.ape[metric], rec.predicted[metric]
            unsteady |= predicted is None
            table.add_row(metric, "", _shown(predicted), _shown(observed),
                          "—" if ape is None else f"{100 * ape:.1f}%", end_section=n == len(rec.observed) - 1)
    console.print(table)
    if any(rec.tp_source == "tuned" for rec in report.records):
        console.print(f"tp tuned: {TUNED_TP}")
    if any(rec.tp_source == "pools" for rec in report.records):
        console.print("tp decode: a disaggregated record, predicted as its stated pair (mlperf.disaggregated): "
                      "the decode pool's tp, its chips per worker; the TPOT is the decode pool's (its full batch's "
                      "where that pool is past its capacity), TTFT the prefill pool's + the KV transfer + the decode "
                      "pool's wait; TTFT, e2e and tokens/s read — where either pool is past its capacity at the "
                      "record's rate")
    if unsteady:  # the JSON's null: an infinite error in the summaries
        console.print("— predicted: the model has no steady state at the record's rate (past its capacity, or not "
                      "one sequence fits): requests queue without bound, so TTFT and e2e grow with the run; counted as "
                      "an infinite error")
    _summary_table(console, "summary by metric", report.summary, "metric")
    if len(report.by_scenario) > 1:
        for scenario, summary in report.by_scenario.items():
            _summary_table(console, f"scenario {scenario}", summary, "metric")
    _print_left_out(console, report.skipped, report.ignored)


def _print_left_out(console: Console, skipped: Sequence[SkippedOut], ignored: Sequence[SkippedOut]) -> None:
    """One line per record not predicted, then per key a record stated that the format does not read
    (that record was predicted without it)."""
    for label, rows in (("skipped", skipped), ("ignored", ignored)):
        for s in rows:
            console.print(f"[yellow]{label}[/yellow] {s.id}: {s.reason}")


def _eff_out(e: Efficiency) -> dict[str, float]:
    return {"compute": e.compute, "memory": e.memory, "communication": e.communication,
            "step_overhead_ms": float(f"{e.step_overhead_s * 1e3:.4g}"),
            "collective_latency_us": float(f"{e.collective_latency_s * 1e6:.4g}")}


def calibration_yaml(result: FitResult, reads: Sequence[MeasurementsRead], n_used: int,
                     folds: int, cv: CrossValidationOut | None, *, repeats: int = 1,
                     at_bound: dict[str, dict[str, str]] | None = None, cv_by: str | None = None) -> dict[str, Any]:
    """calibration.yaml's content; validated against ``CalibrationFile`` before it is written (``cv_by``: the
    group each cross-validation fold held out, None for k-fold, "none" (and ``cv`` None) for no
    cross-validation: the file then records no error estimate)."""
    from hardware_catalog.schema import CalibrationFile

    families: dict[tuple[str, str], int] = {}
    entries: list[dict[str, Any]] = []
    for (hw, rt), eff in sorted(result.calibration.pairs.items()):
        entries.append({"hardware": hw, "runtime": rt, "efficiency": _eff_out(eff),
                        "n_records": result.n_records[(hw, rt)]})
    for (fam, vendor, rt), eff in sorted(result.calibration.vendor_runtime.items()):
        entries.append({"family": fam, "vendor": vendor, "runtime": rt, "efficiency": _eff_out(eff),
                        "n_records": int(eff.source.split(" fitted on ")[1].split()[0])})
    for (fam, rt), eff in sorted(result.calibration.family_runtime.items()):
        families[(fam, rt)] = int(eff.source.split(" fitted on ")[1].split()[0])
        entries.append({"family": fam, "runtime": rt, "efficiency": _eff_out(eff),
                        "n_records": families[(fam, rt)]})
    fitted_on = {
        "files": [{"name": Path(r.file).name, "sha256": r.sha256, "n_records": len(r.records)}
                  for r in reads],
        "n_records": n_used,
        "date": datetime.date.today().isoformat(),
        "method": ("hierarchical shrinkage, log-space least squares, collective latency within physical bounds, "
                   "MoE expert efficiency per runtime (planner/calibration/fit.py, bounds.py)"),
        **({"cv_folds": folds, "cv_repeats": repeats} if cv_by is None else {"cv_by": cv_by}),
        # every record's, those under load alone and those with each MLPerf round held out (planner.domain.accuracy_of)
        **({} if cv is None else {key: {k: v.median_ape for k, v in summary.items()} for key, summary in (
            ("cv_median_ape", cv.by_metric), ("cv_under_load_median_ape", cv.under_load),
            ("cv_by_round_under_load_median_ape", cv.by_round or {})) if summary}),
        "at_bound": at_bound or {},
    }
    data: dict[str, Any] = {"fitted_on": fitted_on, "entries": entries,
                            "moe_expert": dict(sorted(result.calibration.moe_expert.items()))}
    if result.calibration.serving_overlap is not None:  # fitted on server records (planner.calibration.serving_fit)
        data["serving_overlap"] = result.calibration.serving_overlap
    if result.calibration.serving_overlap_runtime:  # per runtime, where its records set it apart
        data["serving_overlap_runtime"] = dict(sorted(result.calibration.serving_overlap_runtime.items()))
    if result.calibration.serving_iteration_s is not None:  # fitted on server records, as the overlap
        data["serving_iteration_s"] = result.calibration.serving_iteration_s
    if result.calibration.serving_iteration_runtime:
        data["serving_iteration_runtime"] = dict(sorted(result.calibration.serving_iteration_runtime.items()))
    if result.calibration.serving_iteration_interval is not None:  # what the records do not tell apart
        data["serving_iteration_interval"] = list(result.calibration.serving_iteration_interval)
    if result.calibration.serving_iteration_interval_runtime:
        data["serving_iteration_interval_runtime"] = {
            rid: list(v) for rid, v in sorted(result.calibration.serving_iteration_interval_runtime.items())}
    if result.calibration.serving_concurrency:  # Little's law on the records under load
        by_runtime: dict[str, dict[str, int]] = {}
        for (rid, family), cap in sorted(result.calibration.serving_concurrency.items()):
            by_runtime.setdefault(rid, {})[family] = cap
        data["serving_concurrency_runtime"] = by_runtime
    CalibrationFile.model_validate(data)
    return data


def _cross_validated(cat: Catalog, rs: RecordSet, cv_by: str | None, folds: int, repeats: int,
                     progress: Callable[[str], None]) -> tuple[CrossValidationOut | None, int, int]:
    """The cross-validation ``calibrate`` asked for, and the folds and repeats its file records (0, 0 for
    --cv-by none: fitted, not cross-validated; 0, 1 for a grouping). A k-fold run over records of two or more
    MLPerf rounds also holds each round out in turn (``CrossValidationOut.by_round``: the plans' accuracy line)."""
    from hardware_catalog.outputs import cv_out, under_load_out
    from planner.calibration.fit import group_cross_validate, repeated_cross_validate
    from planner.errors import InputError

    if cv_by == "none":
        return None, 0, 0
    if cv_by is None:
        by_round = None
        rounds = {m.tags["round"] for m in rs.records if "round" in m.tags}
        if len(rounds) >= 2:  # the records without a round (not under load) are in every fit
            progress("cross-validating by round")
            round_pred, _groups = group_cross_validate(cat, rs, lambda m: m.tags.get("round", "(no round)"),
                                                       held_out=rounds)
            by_round = under_load_out(rs, round_pred)
        cv = cv_out(cat, *repeated_cross_validate(cat, rs, folds=folds, repeats=repeats, progress=progress),
                    by_round=by_round)
        return cv, folds, repeats
    if cv_by not in ("round", "system", "hardware"):
        raise typer.BadParameter(f"expected 'round', 'system', 'hardware' or 'none', got {cv_by!r}",
                                 param_hint="--cv-by")

    def group(m: Measurement) -> str:
        return m.hardware if cv_by == "hardware" else m.tags.get(cv_by, "(no " + cv_by + ")")

    held_out = None
    if cv_by == "round":  # the records without a round (the public ones) are in every fit and never predicted: they
        # formed a group of their own, predicted from the MLPerf records alone and pooled into every summary
        held_out = {m.tags["round"] for m in rs.records if "round" in m.tags}
        if len(held_out) < 2:
            raise InputError(f"--cv-by round needs records of at least two MLPerf rounds (the records without one "
                             f"are in every fit), got {sorted(held_out) or 'none'}", field="--cv-by")
    cv_pred, _groups = group_cross_validate(cat, rs, group, progress=progress, held_out=held_out)
    if held_out is not None:  # the summaries are of the records held out (the others were never predicted)
        kept = [j for j, m in enumerate(rs.records) if group(m) in held_out]
        rs, cv_pred = rs.take(kept), cv_pred[kept]
    return cv_out(cat, rs, cv_pred), 0, 1


@app.command("calibrate")
def calibrate_cmd(
    files: Annotated[list[Path], typer.Argument(help="Measurements files (canonical format).")],
    out: Annotated[Path | None, typer.Option(
        help="Directory for calibration.yaml. Without it, --catalog DIR names the catalog whose own file the fit "
             "replaces (the shipped one: --catalog hardware_catalog/data); with neither, calibrate stops with an error "
             "before fitting (a cross-validation alone needs --out too).")] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    repeats: Annotated[int, typer.Option(min=1, max=20, help="k-fold CV repeats (fold seeds), pooled.")] = 5,
    cv_by: Annotated[str | None, typer.Option(
        help="Cross-validate leaving one group out instead of k-fold: 'round' (MLPerf round: fit on the "
             "others, predict it), 'system' (records without the tag form their own group) or 'hardware' "
             "(every record of one chip held out: how a chip the fit has not seen is predicted); 'none' fits "
             "without cross-validating (the same fit, no error estimate: a minute where the default's 25 fits "
             "take over 20).")] = None,
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit efficiencies per hardware x runtime to measurements; report cross-validated error (k-fold, and with
    each MLPerf round held out where the records carry two or more)."""
    import yaml
    from rich.progress import Progress

    from cli.output.console import Console
    from hardware_catalog.caching.cache_store import atomic_write
    from hardware_catalog.inputs.measurements import require_predictable
    from hardware_catalog.outputs import calibration_out, skipped_out
    from planner.calibration.concurrency import concurrency_evidence
    from planner.calibration.fit import at_bound, fit
    from planner.calibration.predict import prepare
    from planner.errors import InputError
    from planner.model.grid import CatalogTables

    if out is None and catalog is None:  # (the shipped catalog's file was replaced by a 12-record fit this way)
        raise InputError("calibrate writes a calibration.yaml and would replace the catalog's own: give --out DIR "
                         "for a new file, or --catalog DIR to replace that catalog's (the shipped one: --catalog "
                         "hardware_catalog/data)", field="--out")
    if out is not None and out.exists() and not out.is_dir():  # (found only after the fits: 20 minutes by default)
        raise InputError(f"{out} is a file: --out names the directory calibration.yaml is written to", field="--out")
    cat = load(catalog, add)
    with Progress(transient=True, disable=as_json) as progress:
        task = progress.add_task("reading measurements", total=(0 if cv_by == "none" else folds * repeats) + 3)
        reads, records, bad = load_records(files)
        rs, skipped = prepare(cat, CatalogTables.from_catalog(cat), records)
        # nothing to fit, or one record: no fold to hold out (the catalog's file stays as it is)
        require_predictable(len(rs), len(records) + len(bad), skipped, bad, at_least=2, why=": a fit needs at least 2")
        progress.update(task, advance=1, description="cross-validating")
        cv, folds, repeats = _cross_validated(cat, rs, cv_by, folds, repeats,
                                              lambda msg: progress.update(task, advance=1, description=msg))
        progress.update(task, description="fitting on all records")
        result = fit(cat, rs)
        progress.update(task, advance=1, description="writing calibration.yaml")
        target = (out or catalog or Path()) / "calibration.yaml"  # (one of the two is given: checked above)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = calibration_yaml(result, reads, len(rs), folds, cv, repeats=repeats,
                                at_bound=at_bound(cat, result), cv_by=cv_by)
        header = "# Written by `hwplan calibrate`: efficiencies fitted to the measurements in fitted_on.\n"
        text = (header + yaml.safe_dump(data, sort_keys=False, width=110)).encode("utf-8")
        # through a temporary file renamed into place: a run killed or failing mid-write leaves the old file whole
        atomic_write(target, lambda f: f.write(text))
        progress.update(task, advance=1)
    skipped_rows = skipped_out(bad, skipped)
    set_by = {key: rs.records[k].id for key, (_cap, k) in concurrency_evidence(rs).items()}
    report = calibration_out(written=str(target), n_records=len(rs), pairs=len(result.calibration.pairs), cv=cv,
                             skipped=skipped_rows, calibration=result.calibration,
                             ignored=[i for r in reads for i in r.ignored], concurrency_set_by=set_by)
    if as_json:
        print_doc(report)
        return
    console = Console()
    console.print(f"fitted {len(result.calibration.pairs)} hardware x runtime pairs on {len(rs)} records; "
                  f"wrote {target}")
    serving = ", ".join(f"{k} {v} ms" for k, v in report.serving_iteration_ms.items()) or "the prior, 0"
    overlap = ", ".join(f"{k} {v}" for k, v in report.serving_overlap.items()) or "the prior, 1 (the roofline)"
    console.print(f"serving iteration cost (fitted on the records under load): {serving}; serving overlap: {overlap}")
    if report.serving_concurrency:
        named = report.serving_concurrency_set_by
        caps = "; ".join(f"{k} {v:,}" + (f" (set by {named[k]})" if k in named else "")  # 'vllm on gpu 1,088 (...)'
                         for k, v in report.serving_concurrency.items())
        console.print(f"engine caps on sequences raised by the records under load (Little's law; each record's "
                      f"sequences per engine, the largest sets the cap of every engine of its runtime): {caps}")
    if cv is None:
        console.print("not cross-validated (--cv-by none): no error estimate for this fit")
    else:
        how = (f"{folds}-fold cross-validated error ({repeats} fold assignments pooled)" if cv_by is None
               else f"cross-validated error, each {cv_by} held out and predicted by a fit on the others,")
        for key, title in (("by_metric", "metric"), ("by_family", "hardware family"), ("by_runtime", "runtime")):
            _summary_table(console, f"{how} by {title}", getattr(cv, key), title)
        if cv.under_load:
            _summary_table(console, f"{how} over the records under load (Server and Interactive)", cv.under_load,
                           "metric")
        if cv.by_round:
            _summary_table(console, "the same with each MLPerf round held out and predicted by a fit on the others",
                           cv.by_round, "metric")
    _print_left_out(console, skipped_rows, report.ignored)
