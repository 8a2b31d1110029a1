"""A plan says how far the performance model fell from measurements held out of its fit: the median errors under
load that ``hwplan calibrate``'s cross-validation wrote into the catalog's calibration.yaml (SLO capacity, TPOT
p99, TTFT p99), in the JSON (``accuracy``) and as a line of the text; a calibration that records none gives none.

The figures are checked against the file itself, read here with PyYAML, not against the code that carries them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

Cli = Callable[..., tuple[int, str, str]]
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "hardware_catalog" / "data"
UNDER_LOAD = {"slo_capacity_requests_per_s": "SLO capacity", "tpot_p99_ms": "TPOT p99", "ttft_p99_ms": "TTFT p99"}


def _fitted_on(data: Path = DATA) -> dict:
    return yaml.safe_load((data / "calibration.yaml").read_text())["fitted_on"]


def test_the_plan_carries_the_calibrations_held_out_error_under_load(hwplan: Cli) -> None:
    on = _fitted_on()
    code, out, _ = hwplan("plan", str(ROOT / "examples" / "support-chatbot.yaml"), "--json")
    assert code == 0
    acc = json.loads(out)["accuracy"]
    # over the records under load alone: every record's p99s pool static-batch ones, whose p99 is their mean
    assert acc["median_ape"] == {k: on["cv_under_load_median_ape"][k] for k in UNDER_LOAD}
    assert acc["median_ape"] != {k: on["cv_median_ape"][k] for k in UNDER_LOAD}
    assert acc["median_ape_by_round"] == {k: on["cv_by_round_under_load_median_ape"][k] for k in UNDER_LOAD}
    # the figures the ranking and the printed p99s rest on, not the file's output throughput (pooled with
    # Server records, whose throughput is their rate: no error to speak of)
    assert "output_tokens_per_s" not in acc["median_ape"]
    basis = acc["basis"]
    assert f"{on['cv_folds']}-fold" in basis and f"{on['n_records']} measurements" in basis
    assert str(on["date"]) in basis and all(f["name"] in basis for f in on["files"])


def test_the_text_line_gives_the_same_figures(hwplan: Cli) -> None:
    on = _fitted_on()
    cv, later = on["cv_under_load_median_ape"], on["cv_by_round_under_load_median_ape"]
    code, text, _ = hwplan("plan", str(ROOT / "examples" / "code-assistant.yaml"))
    flat = " ".join(text.split())
    assert code == 0 and "accuracy: median error on measurements under load held out of the fit" in flat
    for key, label in UNDER_LOAD.items():
        assert f"{label} {cv[key] * 100:.1f}% ({later[key] * 100:.1f}% on an MLPerf round held out)" in flat, flat


def _catalog_with(tmp_path: Path, edit: Callable[[dict], None]) -> Path:
    """A copy of the shipped catalog whose calibration.yaml's fitted_on ``edit`` changed."""
    catalog = tmp_path / "catalog"
    shutil.copytree(DATA, catalog, ignore=shutil.ignore_patterns("measurements", "__pycache__"))
    body = yaml.safe_load((catalog / "calibration.yaml").read_text())
    edit(body["fitted_on"])
    (catalog / "calibration.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    return catalog


def test_a_calibration_without_cross_validation_claims_no_accuracy(hwplan: Cli, tmp_path: Path) -> None:
    """`hwplan calibrate --cv-by none` writes no cv_median_ape: the plan then says nothing of an error it
    does not know (no made-up figure, no empty line)."""
    def uncrossed(on: dict) -> None:
        for key in ("cv_median_ape", "cv_under_load_median_ape", "cv_by_round_under_load_median_ape"):
            on.pop(key)

    catalog = _catalog_with(tmp_path, uncrossed)
    workload = str(ROOT / "examples" / "support-chatbot.yaml")
    code, out, _ = hwplan("plan", workload, "--json", "--catalog", str(catalog))
    assert code == 0 and json.loads(out)["plans"] and json.loads(out).get("accuracy") is None
    code, text, _ = hwplan("plan", workload, "--catalog", str(catalog))
    assert code == 0 and "accuracy:" not in text


def test_a_by_round_calibration_says_so_and_odd_figures_are_left_out(hwplan: Cli, tmp_path: Path) -> None:
    """fitted_on is free-form in calibration.yaml: `--cv-by round` writes cv_by instead of folds, and a
    maintainer's file may hold anything. The basis names the grouping; a figure that is not a finite
    non-negative number (a string, a negative, NaN, a boolean) is not shown; a file with none left gives none."""
    def by_round(on: dict) -> None:
        on.pop("cv_folds"), on.pop("cv_repeats"), on.pop("cv_by_round_under_load_median_ape")
        on["cv_by"] = "round"
        on["cv_under_load_median_ape"] = {"slo_capacity_requests_per_s": 0.124, "tpot_p99_ms": "26%",
                                          "ttft_p99_ms": -0.9}

    workload = str(ROOT / "examples" / "support-chatbot.yaml")
    code, out, _ = hwplan("plan", workload, "--json", "--catalog", str(_catalog_with(tmp_path, by_round)))
    acc = json.loads(out)["accuracy"]
    assert code == 0 and acc["median_ape"] == {"slo_capacity_requests_per_s": 0.124}
    assert acc["basis"].startswith("cross-validation by round (each round held out in turn)")
    assert acc["median_ape_by_round"] == {}  # the figures are the by-round ones already

    def older_file(on: dict) -> None:  # written before the figures under load: every record's, said as such
        on.pop("cv_under_load_median_ape"), on.pop("cv_by_round_under_load_median_ape")

    old = tmp_path / "old"
    old.mkdir()
    code, out, _ = hwplan("plan", workload, "--json", "--catalog", str(_catalog_with(old, older_file)))
    acc = json.loads(out)["accuracy"]
    assert code == 0 and acc["median_ape"] == {k: _fitted_on()["cv_median_ape"][k] for k in UNDER_LOAD}
    assert acc["note"].startswith("median error on measurements held out") and not acc["median_ape_by_round"]

    def nothing_usable(on: dict) -> None:
        on["cv_median_ape"] = {"slo_capacity_requests_per_s": float("nan"), "tpot_p99_ms": True, "ttft_p99_ms": None}
        on["cv_under_load_median_ape"] = {"slo_capacity_requests_per_s": "x"}

    other = tmp_path / "other"
    other.mkdir()
    code, out, _ = hwplan("plan", workload, "--json", "--catalog", str(_catalog_with(other, nothing_usable)))
    assert code == 0 and json.loads(out).get("accuracy") is None


def test_a_server_estimate_carries_it_and_a_static_one_does_not(hwplan: Cli) -> None:
    """`hwplan estimate --scenario server` predicts p99s under load as a plan does: the same figures; a static
    batch runs no queueing model, and says nothing of its error."""
    cv = _fitted_on()["cv_under_load_median_ape"]
    base = ("estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm")
    code, out, _ = hwplan(*base, "--scenario", "server", "--request-rate", "5", "--json")
    assert code == 0 and json.loads(out)["accuracy"]["median_ape"] == {k: cv[k] for k in UNDER_LOAD}
    code, text, _ = hwplan(*base, "--scenario", "server", "--request-rate", "5")
    flat = " ".join(text.replace("│", " ").split())
    assert code == 0 and f"TTFT p99 {cv['ttft_p99_ms'] * 100:.1f}%" in flat, flat
    code, out, _ = hwplan(*base, "--json")
    assert code == 0 and json.loads(out).get("accuracy") is None


def test_an_uncalibrated_chip_is_told_the_accuracy_line_is_not_its(hwplan: Cli) -> None:
    """The accuracy line is of chips in the fit; a plan on a chip with no fit of its own (support-chatbot's L4) says
    so, pointing at the by-chip figure. Basis: docs/accuracy.md's 'all chips, each held out' SLO capacity error
    (the same report's by-chip fits) is above calibration.yaml's cross-validated one the line prints."""
    code, text, _ = hwplan("plan", str(ROOT / "examples" / "support-chatbot.yaml"))
    flat = " ".join(text.split())
    assert code == 0 and "uncalibrated" in flat and "cross-validated by chip" in flat
    report = (ROOT / "docs" / "accuracy.md").read_text(encoding="utf-8")
    (row,) = [line for line in report.splitlines() if line.startswith("| Server + Interactive SLO capacity |")
              and line.count("|") == 5]
    by_chip = float(row.split("|")[3].strip().rstrip("%")) / 100
    assert by_chip > _fitted_on()["cv_under_load_median_ape"]["slo_capacity_requests_per_s"]
