"""The "under load" section of docs/accuracy.md: MLPerf Inference Offline, Server and Interactive.

Called by bench/accuracy_report.py. Two views of the same records (duplicate logs counted once):

* shipped calibration: as `hwplan validate` predicts with it; fitted on public_benchmarks.yaml and
  the MLPerf file together, so this view is in sample (the title says which files it was fitted on);
* cross-validated by round: ``hwplan calibrate --cv-by round`` on public_benchmarks.yaml plus the
  MLPerf file: each round is predicted by a fit on the public records and the other round;
* cross-validated by system: the MLPerf systems (submitter and system name, both rounds together)
  dealt into SYSTEM_FOLDS folds, each predicted by a fit on the public records and the other folds'
  systems (how a system the fit has never seen is predicted; ``--cv-by system`` leaves one system out
  at a time, one fit per system, too slow for this report);
* cross-validated by chip: every record of one chip (public and MLPerf) held out together and predicted
  by a fit on all the others, one fit per chip (``hwplan calibrate --cv-by hardware``): how a chip the
  fit has never seen is predicted, e.g. one a catalog maintainer adds from its datasheet, and where
  its efficiency then comes from (``Catalog.efficiency``: the same die's fit, else the vendor's).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from relative_load_p99 import table as relative_load_table  # bench/ is the script's directory

from hardware_catalog.inputs.measurements import read_measurements
from planner.calibration.fit import fit, group_cross_validate
from planner.calibration.predict import METRICS, RecordSet, predict_calibrated, prepare
from planner.calibration.validate import ape, summarise
from planner.domain import Catalog
from planner.model.grid import Array, CatalogTables
from planner.model.load.scheduler import SERVING_OVERLAP, overlap_of

SYSTEM_FOLDS = 5
KEY_METRICS = ("output_tokens_per_s", "slo_capacity_requests_per_s", "ttft_p99_s", "tpot_p99_s")
SCENARIOS = (("Offline", ("Offline",)), ("Server + Interactive", ("Server", "Interactive")),
             ("Server", ("Server",)), ("Interactive", ("Interactive",)))


def _rows(rs: RecordSet, predicted: Array, label: str, rounds: Sequence[str] = ("v4.1", "v5.1", "all")) -> list[str]:
    err = ape(predicted, rs.observed)
    scen = np.array([m.tags.get("scenario", "") for m in rs.records])
    rnd = np.array([m.tags.get("round", "") for m in rs.records])
    # past the model's capacity at the record's rate: no steady-state TTFT (nan, an infinite error)
    over = np.isin(scen, ("Server", "Interactive")) & np.isnan(predicted[:, METRICS.index("ttft_p99_s")])
    lines = [f"| {label}: scenario | round | metric | n | median APE | within 25% | over capacity at the rate |",
             "|---|---|---|---|---|---|---|"]
    for name, members in SCENARIOS:
        for r in rounds:
            rows = np.isin(scen, members) & ((rnd == r) | (r == "all"))
            for metric in KEY_METRICS:
                e = err[rows, METRICS.index(metric)]
                seen = ~np.isnan(e)
                if not seen.any():
                    continue
                s = summarise(e[seen])
                lines.append(f"| {name} | {r} | {metric} | {s.n} | {100 * s.median_ape:.1f}% | "
                             f"{100 * s.within_25pct:.0f}% | {100 * np.mean(over[rows][seen]):.0f}% |")
    return [*lines, ""]


def _fmt(x: float, scale: float = 1.0) -> str:
    return "over capacity" if not np.isfinite(x) else f"{x * scale:.3g}"


def _systems(rs: RecordSet, predicted: Array) -> list[str]:
    lines = ["| system (round, scenario) | model | chips | capacity pred / obs (req/s) | "
             "TTFT p99 pred / obs (ms) | TPOT p99 pred / obs (ms) |", "|---|---|---|---|---|---|"]
    cap, ttft, tpot = (METRICS.index(k) for k in ("slo_capacity_requests_per_s", "ttft_p99_s", "tpot_p99_s"))
    order = sorted(range(len(rs)), key=lambda j: (rs.records[j].model, rs.records[j].hardware,
                                                  rs.records[j].tags.get("system", "")))
    for j in order:
        m = rs.records[j]
        if m.tags.get("scenario") not in ("Server", "Interactive"):
            continue
        o, p = rs.observed[j], predicted[j]
        lines.append(f"| {m.tags.get('submitter')} {m.tags.get('system')} ({m.tags.get('round')}, "
                     f"{m.tags.get('scenario')}) | {m.model} | {m.chips} x {m.hardware} | "
                     f"{_fmt(p[cap])} / {_fmt(o[cap])} | {_fmt(p[ttft], 1e3)} / {_fmt(o[ttft], 1e3)} | "
                     f"{_fmt(p[tpot], 1e3)} / {_fmt(o[tpot], 1e3)} |")
    return [*lines, ""]


PLOT = Path(__file__).resolve().parent.parent / "docs" / "accuracy_under_load.png"


def parity(ax: Any, span: tuple[float, float], xlabel: str, ylabel: str, *, legend: int) -> None:
    """Log-log predicted vs observed axes: the diagonal, dotted +-25% lines, labels and the legend
    (this section's plot and bench/accuracy_report.py's)."""
    line = np.array(span)
    ax.plot(line, line, "k-", lw=0.8)
    ax.plot(line, line * 1.25, "k:", lw=0.6)
    ax.plot(line, line / 1.25, "k:", lw=0.6)
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel)
    ax.legend(fontsize=legend)


def _plot(rs: RecordSet, predicted: Array, path: Path) -> bool:
    """Predicted (cross-validated by round) vs observed SLO capacity, TTFT p99 and TPOT p99 at the
    record's rate, Server and Interactive records; a record over capacity at its rate (no steady-state
    TTFT) is drawn at the top edge. False where matplotlib (the docs extra) is not installed."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib not installed: docs/accuracy_under_load.png left as it is")
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scen = np.array([m.tags.get("scenario", "") for m in rs.records])
    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    panels = (("slo_capacity_requests_per_s", "SLO capacity, requests/s"), ("ttft_p99_s", "TTFT p99 at the rate, s"),
              ("tpot_p99_s", "TPOT p99 at the rate, s"))
    for ax, (metric, label) in zip(axes, panels, strict=True):
        col = METRICS.index(metric)
        obs, pred = rs.observed[:, col], predicted[:, col]
        seen = np.isfinite(obs) & (obs > 0)
        top = np.nanmax(np.where(np.isfinite(pred), pred, np.nan)[seen]) * 3.0
        for name, marker, color in (("Server", "o", "C0"), ("Interactive", "s", "C1")):
            rows = seen & (scen == name)
            fine = rows & np.isfinite(pred)
            ax.scatter(obs[fine], pred[fine], s=16, marker=marker, color=color, alpha=0.75, label=name)
            over = rows & ~np.isfinite(pred)
            if over.any():
                ax.scatter(obs[over], np.full(int(over.sum()), top), s=16, marker="^", color=color, alpha=0.6,
                           label=f"{name}: over capacity at the rate (drawn at the top)")
        lo = min(np.nanmin(obs[seen]), np.nanmin(np.where(pred > 0, pred, np.nan)[seen])) / 1.5
        parity(ax, (lo, top * 1.2), f"observed {label}", f"predicted {label}", legend=7)
    fig.suptitle("hwplan under load: MLPerf Server / Interactive, cross-validated by round (dotted: ±25%)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def fitted_files(catalog: Catalog) -> list[str]:
    """The names of the measurement files the catalog's calibration was fitted on (its fitted_on)."""
    files = catalog.calibration.fitted_on.get("files", [])
    return [str(f.get("name")) for f in files if isinstance(f, Mapping)] if isinstance(files, list) else []


def _fitted_on(catalog: Catalog, mlperf: Path) -> str:
    files = fitted_files(catalog)
    if mlperf.name in files:
        return (f"fitted on {' and '.join(map(str, files))}: in sample; the by-round table below is the "
                "out-of-sample figure")
    return f"fitted on {' and '.join(map(str, files))} only: both rounds out of sample"


def _overlaps(catalog: Catalog) -> str:
    cal = catalog.calibration
    per_runtime = ", ".join(f"{r} {v}" for r, v in sorted(cal.serving_overlap_runtime.items()))
    return f"pooled {overlap_of(cal)}" + (f", {per_runtime}" if per_runtime else "")


def _iterations(catalog: Catalog) -> str:
    cal = catalog.calibration
    per_runtime = ", ".join(f"{r} {1e3 * v:g} ms" for r, v in sorted(cal.serving_iteration_runtime.items()))
    return f"pooled {1e3 * cal.iteration_s():g} ms" + (f", {per_runtime}" if per_runtime else "")


def _caps(catalog: Catalog) -> str:
    caps = catalog.calibration.serving_concurrency
    return ", ".join(f"{r} on {family} {c:,} (documented {catalog.runtimes[r].max_concurrency:,})"
                     for (r, family), c in sorted(caps.items())) or "none raised"


def _system(m: Any) -> str:
    return f"{m.tags.get('submitter')}/{m.tags.get('system')}"


def cv_by_system(catalog: Catalog, rs: RecordSet, folds: int = SYSTEM_FOLDS) -> Array:
    """Held-out predictions [record, metric] of the MLPerf records (nan for the others), their systems
    dealt into ``folds`` folds in the order of a hash of their names; the public records are in every fit."""
    systems = sorted({_system(m) for m in rs.records if m.tags},
                     key=lambda name: hashlib.sha256(name.encode()).hexdigest())
    fold_of = {name: j % folds for j, name in enumerate(systems)}
    fold = np.array([fold_of[_system(m)] if m.tags else -1 for m in rs.records])
    out = np.full((len(rs), len(METRICS)), np.nan)
    for k in range(folds):
        test = np.flatnonzero(fold == k)
        result = fit(catalog, rs.take(np.flatnonzero(fold != k).tolist()))
        fitted = replace(catalog, calibration=result.calibration)
        out[test] = predict_calibrated(CatalogTables.from_catalog(fitted), rs.take(test.tolist()), result.calibration)
    return out


def cv_by_chip(catalog: Catalog, rs: RecordSet) -> tuple[Array, dict[str, str]]:
    """Held-out predictions [record, metric], every chip's records predicted by a fit on all the others
    (``group_cross_validate`` by chip), and per chip where that fit takes its efficiency from for the
    chip's most common runtime (its own pair being held out)."""
    fits: dict[str, Catalog] = {}
    out, _groups = group_cross_validate(catalog, rs, lambda m: m.hardware, fitted=fits)
    source: dict[str, str] = {}
    for chip, held_out in fits.items():
        runtimes = [m.runtime for m in rs.records if m.hardware == chip]
        runtime = max(sorted(set(runtimes)), key=runtimes.count)
        source[chip] = f"{runtime}: {_efficiency_source(held_out, chip, runtime)}"
    return out, source


def _efficiency_source(fitted: Catalog, chip: str, runtime: str) -> str:
    """Which of ``Catalog.efficiency``'s sources a chip without a fit of its own takes, in short."""
    cal, hw = fitted.calibration, fitted.hardware[chip]
    eff = fitted.efficiency(hw, fitted.runtimes[runtime])
    if "the same die" in eff.source:  # "<chip>'s fit, the same die[ at a lower board power] (...)"
        capped = ", a capped part" if "at a lower board power" in eff.source else ""
        return f"same die ({eff.source.split(' the same die')[0].rstrip(',')}{capped})"
    if eff is cal.vendor_runtime.get((hw.family, hw.vendor, runtime)):
        return f"{hw.vendor} {hw.family} fit"
    if eff is cal.family_runtime.get((hw.family, runtime)):
        return f"{hw.family} fit"
    return "prior"


_CHIP_GROUPS = (("Offline / max-throughput tokens/s", "output_tokens_per_s", ("Offline", "max_throughput")),
                ("static tokens/s", "output_tokens_per_s", ("static_batch",)),
                ("Server + Interactive SLO capacity", "slo_capacity_requests_per_s", ("Server", "Interactive")))


def _chip_scenario(m: Any) -> str:
    return str(m.tags.get("scenario") or m.scenario)


def _chip_rows(rs: RecordSet, predicted: Array, source: Mapping[str, str]) -> list[str]:
    """Markdown: per chip, median predicted / observed and median APE of each group of ``_CHIP_GROUPS``
    held out, with where its efficiency came from; then every chip's records pooled per group."""
    err = ape(predicted, rs.observed)
    scen = np.array([_chip_scenario(m) for m in rs.records])
    chip = np.array([m.hardware for m in rs.records])
    ratio = predicted / rs.observed

    def cell(rows: np.ndarray, metric: str) -> str:
        col = METRICS.index(metric)
        seen = rows & ~np.isnan(rs.observed[:, col]) & ~np.isnan(predicted[:, col])
        if not seen.any():
            return "-"
        return (f"{np.median(ratio[seen, col]):.2f}x, {100 * np.median(err[seen, col]):.0f}% "
                f"({int(seen.sum())})")

    header = " | ".join(name for name, _, _ in _CHIP_GROUPS)
    lines = [f"| chip (held out) | efficiency when held out (its main runtime) | {header} |",
             "|---|---|" + "---|" * len(_CHIP_GROUPS)]
    for c in sorted(set(chip.tolist())):
        cells = [cell((chip == c) & np.isin(scen, members), metric) for _, metric, members in _CHIP_GROUPS]
        if any(x != "-" for x in cells):  # (a chip whose records are all outside the groups: no row)
            lines.append(f"| {c} | {source.get(c, '-')} | {' | '.join(cells)} |")
    lines += ["", "| all chips, each held out: group | n | median APE | within 25% |", "|---|---|---|---|"]
    for name, metric, members in _CHIP_GROUPS:
        e = err[np.isin(scen, members), METRICS.index(metric)]
        s = summarise(e[~np.isnan(e)])
        lines.append(f"| {name} | {s.n} | {100 * s.median_ape:.1f}% | {100 * s.within_25pct:.0f}% |")
    return [*lines, ""]


def section(catalog: Catalog, mlperf: Path, public: Path) -> list[str]:
    """Markdown lines of the under-load section."""
    tables = CatalogTables.from_catalog(catalog)
    read = read_measurements(mlperf)
    rs, skipped = prepare(catalog, tables, read.records)
    start = time.perf_counter()
    shipped = predict_calibrated(tables, rs, catalog.calibration)
    validate_s = time.perf_counter() - start
    both, _ = prepare(catalog, tables, [*read_measurements(public).records, *read.records])
    start = time.perf_counter()
    cv, _groups = group_cross_validate(catalog, both, lambda m: m.tags.get("round", "public"))
    cv_s = time.perf_counter() - start
    start = time.perf_counter()
    by_system = cv_by_system(catalog, both)
    system_s = time.perf_counter() - start
    n_systems = len({_system(m) for m in both.records if m.tags})
    start = time.perf_counter()
    by_chip, sources = cv_by_chip(catalog, both)
    chip_s = time.perf_counter() - start
    is_mlperf = np.array([bool(m.tags) for m in both.records])
    reasons: dict[str, int] = {}
    for s in skipped:
        head = s.reason.split(":")[0] if s.reason.startswith("same log") else s.reason
        reasons[head] = reasons.get(head, 0) + 1
    return [
        "## Under load: MLPerf Inference (Offline, Server, Interactive)", "",
        f"Data: `{mlperf.name}` (sha256 `{read.sha256[:12]}…`), {len(read.records)} records read, "
        f"{len(rs)} predicted, {len(skipped)} skipped. Offline runs are predicted as `max_throughput` over the "
        "benchmark's mean lengths (the output's at the run's own mean where its log states one: "
        "`mlperf.output_tokens_per_sample_observed`, docs/catalog.md); Server and Interactive as `server` at "
        "the record's rate (split evenly "
        "over replicas, chips / (tp x pp)) with its length distribution (empirical p50 / p99 / max "
        "knots), and `slo_capacity_requests_per_s` is the highest rate at which the predicted p99 TTFT "
        "and TPOT meet the round's limits (observed: the submitted rate, a lower bound). A record whose "
        "rate the model puts above its capacity ('over capacity at the rate') has no steady-state TTFT "
        "(requests queue for a slot without bound): an infinite TTFT error; its TPOT is that of the requests "
        "admitted to the full batch (`queueing.overload_tpot`, checked against the simulation run past "
        "capacity in tests/test_overload_tpot.py). The queueing model prefills the prompts of one iteration first come "
        "first served (a request's first token ends its own prompt's last pass) and makes an arrival that "
        "finds the concurrency over its slots wait for one (`planner/model/load/scheduler.py`). It times its "
        "iterations with the calibration's serving overlap (the share of min(compute, weight reads) of a "
        "linear layer hidden under the larger; `planner/calibration/serving_fit.py` fits it on the fit's "
        f"records under load; the shipped calibration's: {_overlaps(catalog)}; the prior, "
        f"SERVING_OVERLAP, is {SERVING_OVERLAP}: the roofline) and charges each iteration the calibration's "
        f"serving iteration cost (fitted first, the same way; the shipped calibration's: {_iterations(catalog)}; "
        "the prior is 0). An engine's batch is held to its cap on concurrent sequences: its documented default "
        "(runtimes.yaml), raised where the fit's records under load ran more per engine by Little's law (rate x "
        "(output - 1) x mean TPOT / replicas; `planner/calibration/concurrency.py`; the shipped calibration's: "
        f"{_caps(catalog)}).", "",
        f"### Shipped calibration ({_fitted_on(catalog, mlperf)}; `hwplan validate` {validate_s:.1f} s)", "",
        *_rows(rs, shipped, "shipped"),
        f"### Cross-validated by round (fit on the public records + one round, predict the other; {cv_s:.0f} s)",
        "",
        *_rows(both.take(np.flatnonzero(is_mlperf).tolist()), cv[is_mlperf], "by round"),
        *([f"![under load: predicted vs observed]({PLOT.name})", ""]
          if _plot(both.take(np.flatnonzero(is_mlperf).tolist()), cv[is_mlperf], PLOT) else []),
        f"### Cross-validated by system ({n_systems} systems in {SYSTEM_FOLDS} folds, both rounds of a system held out "
        f"together; each fold predicted by a fit on the public records and the other folds; {system_s:.0f} s)", "",
        *_rows(both.take(np.flatnonzero(is_mlperf).tolist()), by_system[is_mlperf], "by system"),
        f"### Cross-validated by chip (every record of one chip, public and MLPerf, held out together and predicted "
        f"by a fit on all the others: a chip the fit has never seen; one fit per chip, {chip_s:.0f} s)", "",
        "Per chip: held-out predicted / observed (median), median APE and records; `hwplan calibrate "
        "--cv-by hardware` makes the same fits. A new chip added from its datasheet is predicted this way "
        "(docs/catalog.md: its `power_reference` names the same die at its highest board power).", "",
        *_chip_rows(both, by_chip, sources),
        "### Diagnostic, not the issue's metric: p99s at the same relative load (shipped calibration)", "",
        "At the record's rate the p99s are dominated by the capacity error (latency ~ 1 / (1 - rate / "
        "capacity) near the knee). Predicted at the model's own SLO capacity instead (the submitted rate is "
        "the observed one), what remains is the curve's shape (`bench/relative_load_p99.py`):", "",
        *relative_load_table(catalog, rs),
        "### Skipped", "", *[f"* {n} records: {r}" for r, n in sorted(reasons.items(), key=lambda x: -x[1])], "",
        "### Per system (shipped calibration): predicted vs observed capacity and p99s", "",
        *_systems(rs, shipped),
    ]
