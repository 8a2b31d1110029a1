"""Diagnostic (not the issue's metric): how close to its own Offline throughput each MLPerf Server run
is, observed and as the model predicts it.

A Server record is run at the highest Poisson rate whose p99s meet the SLO; its system's Offline record
(same round, submitter, system and benchmark) is the rate with every request queued at once. Their
ratio says how near saturation the Server run sits. The model has its own ratio (its predicted SLO
capacity over its predicted Offline requests/s, shipped calibration). Where the observed ratio is above
the model's, the model needs its Offline prediction to be high by at least the difference for the
record's rate to be stable, so a symmetric Offline error leaves about half of those records past the
model's capacity at their rate, whatever the queueing model's shape: that is what bounds the TTFT p99
at the record's rate (an infinite error past capacity).

    PYTHONPATH=$PWD .venv/bin/python bench/server_offline_ratio.py hardware_catalog/data/measurements/mlperf.yaml
"""

from __future__ import annotations

import numpy as np
from relative_load_p99 import print_table  # bench/ is the script's directory

from planner.calibration.predict import METRICS, Measurement, RecordSet, predict_calibrated
from planner.domain import Catalog
from planner.model.grid import CatalogTables

THROUGHPUT, TTFT_P99, CAPACITY = (METRICS.index(k) for k in ("output_tokens_per_s", "ttft_p99_s",
                                                              "slo_capacity_requests_per_s"))


def _system(m: Measurement) -> tuple[str, ...]:
    return tuple(str(m.tags.get(k)) for k in ("round", "submitter", "system", "benchmark"))


def table(catalog: Catalog, rs: RecordSet) -> list[str]:
    """Markdown rows: quartiles of the observed and the model's Server / Offline ratio, and the share
    of Server records past the model's capacity at their rate on either side of the model's ratio."""
    predicted = predict_calibrated(CatalogTables.from_catalog(catalog), rs, catalog.calibration)
    offline = {_system(m): k for k, m in enumerate(rs.records) if m.tags.get("scenario") == "Offline"}
    observed, model, past = [], [], []
    for k, m in enumerate(rs.records):
        j = offline.get(_system(m))
        if m.tags.get("scenario") != "Server" or j is None:
            continue
        per_request = rs.records[j].lengths()[1].mean  # Offline tokens/s -> requests/s
        observed.append(rs.observed[k, CAPACITY] / (rs.observed[j, THROUGHPUT] / per_request))
        model.append(predicted[k, CAPACITY] / (predicted[j, THROUGHPUT] / per_request))
        past.append(bool(np.isnan(predicted[k, TTFT_P99])))
    obs, mod, unstable = np.array(observed), np.array(model), np.array(past)
    above = obs > mod
    lines = ["| diagnostic: Server / Offline requests/s | n | p25 | median | p75 | p90 |", "|---|---|---|---|---|---|"]
    for label, x in (("observed (submitted Server rate / Offline)", obs),
                     ("model (predicted SLO capacity / predicted Offline)", mod)):
        lines.append(f"| {label} | {x.size} | " + " | ".join(f"{q:.3f}" for q in np.percentile(x, [25, 50, 75, 90]))
                     + " |")
    lines += ["", f"Server records whose observed ratio is above the model's: {above.sum()} of {above.size}; "
              f"past the model's capacity at their rate: {100 * unstable[above].mean():.0f}% of those, "
              f"{100 * unstable[~above].mean():.0f}% of the others.", ""]
    return lines


def main() -> None:
    print_table(table, __doc__)


if __name__ == "__main__":
    main()
