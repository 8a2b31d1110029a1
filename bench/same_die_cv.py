"""Leave one chip out: is a chip without measurements better predicted from its same-die sibling's
fitted efficiency (``power_reference``, ``Catalog.efficiency``) than from the vendor x runtime fit?

For each chip named (default: every chip of the measurements with a ``power_reference`` whose sibling
has records too), the calibration is fitted on every other record (``planner.calibration.fit.fit``, as
``hwplan calibrate`` fits it), and the chip's records are predicted twice with that fit: as the
catalog looks efficiencies up (the sibling's pair first) and with the sibling step skipped (the vendor
x runtime fit, then the family's: the lookup before 2026-12-05). Prints the median APE of tokens/s,
SLO capacity, TTFT and TPOT per chip and lookup. ~30-45 s per chip (one fit each).

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
from planner.domain import Catalog, Efficiency, Hardware, Runtime  # noqa: E402
from planner.model.grid import CatalogTables  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data" / "measurements"
ORIGINAL = Catalog.efficiency
SHOWN = ("output_tokens_per_s", "slo_capacity_requests_per_s", "ttft_s", "tpot_s")


def _lookup_without_die(catalog: Catalog, hardware: Hardware, runtime: Runtime) -> Efficiency:
    """The lookup with the same-die step skipped (the chip's power cap, applied from the tables, is kept)."""
    return ORIGINAL(catalog, replace(hardware, power_reference=None), runtime)


def main() -> None:
    catalog = load_catalog()
    records = [*read_measurements(DATA / "public_benchmarks.yaml").records,
               *read_measurements(DATA / "mlperf.yaml").records]
    tables = CatalogTables.from_catalog(catalog)
    rs, _ = prepare(catalog, tables, records)
    chip_of = np.array([c.hardware.id for c in rs.configs])
    measured = set(chip_of.tolist())
    chips = sys.argv[1:] or sorted(h for h in measured if catalog.hardware[h].power_reference in measured)
    columns = [METRICS.index(k) for k in SHOWN]
    print("| chip (same die) | records | lookup | " + " | ".join(f"{k} median APE" for k in SHOWN) + " |")
    print("|---|---|---|" + "---|" * len(SHOWN))
    for chip in chips:
        test = np.flatnonzero(chip_of == chip)
        start = time.perf_counter()
        calibration = fit(catalog, rs.take(np.setdiff1d(np.arange(len(rs)), test).tolist())).calibration
        fitted = replace(catalog, calibration=calibration)
        held = rs.take(test.tolist())
        for label, lookup in (("same die first", ORIGINAL), ("vendor fit", _lookup_without_die)):
            Catalog.efficiency = lookup  # type: ignore[method-assign]
            try:
                errors = ape(predict_calibrated(CatalogTables.from_catalog(fitted), held, calibration), held.observed)
            finally:
                Catalog.efficiency = ORIGINAL  # type: ignore[method-assign]
            cells = []
            for c in columns:
                seen = np.isfinite(held.observed[:, c])
                cells.append(f"{100 * np.median(errors[seen, c]):.1f}% (n={seen.sum()})" if seen.any() else "—")
            print(f"| {chip} ({catalog.hardware[chip].power_reference}) | {len(test)} | {label} | "
                  + " | ".join(cells) + " |", flush=True)
        print(f"<!-- {chip}: fit {time.perf_counter() - start:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
