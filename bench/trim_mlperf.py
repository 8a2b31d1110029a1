"""Write hardware_catalog/data/measurements/mlperf.yaml: the shared MLPerf records, trimmed to ship.

    .venv/bin/python bench/trim_mlperf.py ../shared/calibration/mlperf.yaml

Kept: every record whose log is not a duplicate (``mlperf.same_log_as`` null), with every field the
readers use and its source URL; dropped: duplicate logs (counted once anyway) and long provenance
prose (``mlperf.notes``, ``tp_source``, ``precision_source``, ``lengths.input_source``,
``lengths.notes``), which stay in the shared file named in the header with its sha256.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DROP_MLPERF = ("notes", "tp_source", "precision_source")
DROP_LENGTHS = ("input_source", "notes")


def main() -> None:
    src = Path(sys.argv[1])
    data = yaml.load(src.read_bytes(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    kept = []
    for r in data["measurements"]:
        if r.get("mlperf", {}).get("same_log_as"):
            continue
        for key in DROP_MLPERF:
            r.get("mlperf", {}).pop(key, None)
        for key in DROP_LENGTHS:
            (r.get("lengths") or {}).pop(key, None)
        kept.append(r)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    header = (f"# Trimmed by bench/trim_mlperf.py from {src.name} (sha256 {digest}): {len(kept)} of "
              f"{len(data['measurements'])} records\n# (duplicate logs dropped; provenance prose dropped, kept in "
              "the source file). Format: ../shared/calibration/SCHEMA.md.\n")
    out = ROOT / "hardware_catalog/data/measurements/mlperf.yaml"
    out.write_text(header + yaml.safe_dump({"measurements": kept}, sort_keys=False, width=120), encoding="utf-8")
    print(f"wrote {out} ({len(kept)} records)")


if __name__ == "__main__":
    main()
