"""JSON forms of validation and cross-validation results, in the measurements file's metric names
and units (ms, tokens/s): what ``hwplan validate|calibrate --json`` print and the API returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hardware_catalog.measurements import METRIC_NAMES, BadRecord
from planner.calibration.predict import RecordSet, Skipped
from planner.calibration.validate import Summary, by_group, by_metric, record_errors
from planner.domain import Catalog
from planner.model.grid import Array
from planner.report import rounded

__all__ = ["cv_report", "skipped_json", "summary_json", "validation_report"]

FILE_METRIC = {si: (name, factor) for name, (si, factor) in METRIC_NAMES.items()}  # SI -> file units


def _file_units(values: dict[str, float]) -> dict[str, float | None]:
    return {FILE_METRIC[k][0]: rounded(v / FILE_METRIC[k][1]) for k, v in values.items()}


def summary_json(s: dict[str, Summary], *, si_keys: bool = True) -> dict[str, Any]:
    return {(FILE_METRIC[k][0] if si_keys else k): {
        "n": v.n, "median_ape": rounded(v.median_ape), "p90_ape": rounded(v.p90_ape),
        "within_25pct": rounded(v.within_25pct)} for k, v in s.items()}


def skipped_json(bad: Sequence[BadRecord], skipped: Sequence[Skipped]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{"id": b.id, "field": b.field, "reason": f"invalid {b.field}: {b.reason}"}
                                  for b in bad]
    return rows + [{"id": s.id, "reason": s.reason} for s in skipped]


def validation_report(rs: RecordSet, predicted: Array, bad: Sequence[BadRecord],
                      skipped: Sequence[Skipped]) -> dict[str, Any]:
    """The JSON of ``hwplan validate`` (metric names and units of the measurements file)."""
    return {
        "records": [{"id": e.id, "predicted": _file_units(dict(e.predicted)),
                     "observed": _file_units(dict(e.observed)),
                     "ape": {FILE_METRIC[k][0]: rounded(v) for k, v in e.ape.items()}}
                    for e in record_errors(rs, predicted)],
        "summary": summary_json(by_metric(rs, predicted)),
        "skipped": skipped_json(bad, skipped),
    }


def cv_report(catalog: Catalog, rs: RecordSet, predicted: Array) -> dict[str, Any]:
    """Cross-validated error by metric, hardware family (all metrics) and runtime (all metrics)."""
    return {
        "by_metric": summary_json(by_metric(rs, predicted)),
        "by_family": summary_json(by_group(rs, predicted, lambda m: catalog.hardware[m.hardware].family),
                                   si_keys=False),
        "by_runtime": summary_json(by_group(rs, predicted, lambda m: m.runtime), si_keys=False),
    }
