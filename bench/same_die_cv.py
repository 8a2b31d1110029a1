"""Leave one chip out: is a chip without measurements better predicted from a same-die sibling's
fitted efficiency (``Catalog.efficiency``: the part it names as ``power_reference``, else a
power-capped part that names it) than from the vendor x runtime fit?

For each chip named (default: every chip of the measurements with a same-die sibling that has records
too), the calibration is fitted on every other record (``planner.calibration.fit.fit``, as ``hwplan
calibrate`` fits it), and the chip's records are predicted twice with that fit: as the catalog looks
efficiencies up (a sibling's pair first) and with the same-die steps skipped (the vendor x runtime fit,
then the family's: the lookup before 2026-12-05). Prints the median APE of tokens/s, SLO capacity,
TTFT and TPOT per chip and lookup. ~30-45 s per chip (one fit each).

    PYTHONPATH=$PWD .venv/bin/python bench/same_die_cv.py [h200-nvl mi300x ...]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from hardware_catalog import load_catalog  # noqa: E402
from hardware_catalog.inputs.measurements import read_measurements  # noqa: E402
from planner.calibration.fit import fit  # noqa: E402
from planner.calibration.predict import METRICS, predict_calibrated, prepare  # noqa: E402
from planner.calibration.validate import ape  # noqa: E402
from planner.domain import Catalog, Hardware  # noqa: E402
from planner.model.grid import CatalogTables  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data" / "measurements"
ORIGINAL = Catalog._same_die
SHOWN = ("output_tokens_per_s", "slo_capacity_requests_per_s", "ttft_s", "tpot_s")


def _no_sibling(catalog: Catalog, hardware: Hardware) -> list[tuple[str, str]]:
    """No same-die sibling to take a fit from (the chip's power cap, applied from the tables, is kept)."""
    return []


def main() -> None:
    catalog = load_catalog()
    records = [*read_measurements(DATA / "public_benchmarks.yaml").records,
               *read_measurements(DATA / "mlperf.yaml").records]
    tables = CatalogTables.from_catalog(catalog)
    rs, _ = prepare(catalog, tables, records)
    chip_of = np.array([c.hardware.id for c in rs.configs])
    measured = set(chip_of.tolist())
    chips = sys.argv[1:] or sorted(h for h in measured if any(
        sibling in measured for sibling, _ in catalog._same_die(catalog.hardware[h])))
    columns = [METRICS.index(k) for k in SHOWN]
    print("| chip (same die) | records | lookup | " + " | ".join(f"{k} median APE" for k in SHOWN) + " |")
    print("|---|---|---|" + "---|" * len(SHOWN))
    for chip in chips:
        test = np.flatnonzero(chip_of == chip)
        start = time.perf_counter()
        calibration = fit(catalog, rs.take(np.setdiff1d(np.arange(len(rs)), test).tolist())).calibration
        fitted = replace(catalog, calibration=calibration)
        held = rs.take(test.tolist())
        for label, siblings in (("same die first", ORIGINAL), ("vendor fit", _no_sibling)):
            Catalog._same_die = siblings  # type: ignore[method-assign,assignment]
            try:
                errors = ape(predict_calibrated(CatalogTables.from_catalog(fitted), held, calibration), held.observed)
            finally:
                Catalog._same_die = ORIGINAL  # type: ignore[method-assign]
            cells = []
            for c in columns:
                seen = np.isfinite(held.observed[:, c])
                cells.append(f"{100 * np.median(errors[seen, c]):.1f}% (n={seen.sum()})" if seen.any() else "—")
            names = ", ".join(sibling for sibling, _ in ORIGINAL(catalog, catalog.hardware[chip]))
            print(f"| {chip} ({names}) | {len(test)} | {label} | "
                  + " | ".join(cells) + " |", flush=True)
        print(f"<!-- {chip}: fit {time.perf_counter() - start:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
