"""The shipped catalog loads; broken files fail with one line naming the file and the field;
a user's own chip loads from an overlay directory; the CLI lists every SCHEMA.md hardware id."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hardware_catalog import default_catalog_dir, load_catalog
from hardware_catalog.loader import read_yaml, validate_file
from hardware_catalog.schema import HardwareFile, ModelFile
from planner.domain import Catalog
from planner.errors import CatalogError
from planner.model.estimate import Scenario, estimate, resolve

# The canonical-format spec, shipped beside the measurements it describes (copied from ../shared).
SCHEMA_MD = default_catalog_dir() / "measurements" / "SCHEMA.md"
Cli = Callable[..., tuple[int, str, str]]
SHIPPED = default_catalog_dir()


def _schema_ids(kind: str) -> list[str]:
    """Canonical ids listed under '- <kind>:' in SCHEMA.md (continuation lines included)."""
    text = SCHEMA_MD.read_text(encoding="utf-8")
    block = re.search(rf"^- {kind}: (.*?)(?=^- |^\s*$|\Z)", text, re.S | re.M)  # to the next item or blank line
    assert block, f"no '- {kind}:' list in {SCHEMA_MD}"
    body = block.group(1).split("(")[0]
    return [i.strip() for i in body.replace("\n", " ").split(",") if i.strip()]


@pytest.mark.parametrize("path", sorted((SHIPPED / "hardware").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_hardware_file_validates(path: Path) -> None:
    entry = validate_file(HardwareFile, read_yaml(path), file=str(path))
    assert entry.id == path.stem
    assert entry.sources, "every hardware figure needs a source"


@pytest.mark.parametrize("path", sorted((SHIPPED / "models").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_model_file_validates(path: Path) -> None:
    entry = validate_file(ModelFile, read_yaml(path), file=str(path))
    assert entry.id == path.stem
    assert "mmlu" in entry.quality or "mmlu" in entry.notes.lower()


def test_shipped_catalog_loads(catalog: Catalog) -> None:
    assert len(catalog.precisions) >= 7
    assert {"fp32", "fp16", "bf16", "fp8", "int8", "int4", "fp4"} <= set(catalog.precisions)
    for hw in catalog.hardware.values():
        assert hw.default_runtime in hw.runtimes
        assert hw.memory_bytes > 0 and hw.memory_bandwidth_bytes_per_s > 0


def test_every_schema_model_and_runtime_id_is_in_the_catalog(catalog: Catalog) -> None:
    for mid in _schema_ids("models"):
        catalog.get_model(mid)
    assert set(_schema_ids("runtimes")) <= set(catalog.runtimes)


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "catalog"
    shutil.copytree(SHIPPED, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


BREAKAGES = {
    # name: (edit old -> new in hardware/h100-sxm.yaml, field the message must name, problem)
    "yaml_syntax": ("memory_gb: 85.52", "memory_gb: [80", "line", "YAML syntax error"),
    "unknown_field": ("memory_gb: 85.52", "memory_gb: 85.52\nmemory_gigs: 80", "memory_gigs", "unknown field"),
    "negative_bandwidth": ("memory_bandwidth_gb_s: 3350", "memory_bandwidth_gb_s: -3350",
                           "memory_bandwidth_gb_s", "greater than or equal to 0.05"),
    "unknown_runtime": ("runtimes: [vllm,", "runtimes: [no-such-engine, vllm,", "runtimes.0",
                        "unknown runtime id 'no-such-engine'"),
}


@pytest.mark.parametrize("name", list(BREAKAGES))
def test_bad_file_fails_naming_file_and_field(tmp_path: Path, name: str, hwplan: Cli) -> None:
    old, new, field, problem = BREAKAGES[name]
    root = _copy(tmp_path)
    bad = root / "hardware" / "h100-sxm.yaml"
    _edit(bad, old, new)
    with pytest.raises(CatalogError) as info:
        load_catalog(root)
    message = str(info.value)
    assert "\n" not in message
    assert str(bad) in message and field in message and problem in message, message
    # the CLI says the same in one line, exit code 2, no traceback
    code, _, err = hwplan("catalog", "validate", str(root))
    assert code == 2
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert "h100-sxm.yaml" in err and field in err


def test_unknown_runtime_in_calibration_names_the_entry(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "calibration.yaml").write_text(
        "entries:\n- hardware: h100-sxm\n  runtime: warp-drive\n  efficiency: {compute: 0.5, memory: 0.7,"
        " communication: 0.6, step_overhead_ms: 1, collective_latency_us: 5}\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"calibration\.yaml: entries\.0\.runtime: unknown runtime id"):
        load_catalog(root)


MY_CHIP = """\
# An in-house accelerator described from its spec sheet only (MTIA-like).
id: acme-npu-1
name: ACME NPU 1
vendor: ACME
family: mtia
memory_gb: 64
memory_bandwidth_gb_s: 800
peak_tflops: {fp16: 200, bf16: 200, int8: 400}
chips_per_node: 4
interconnect_gb_s: 100
runtimes: [hf-transformers]
default_runtime: hf-transformers
sources:
  memory_gb: "ACME NPU 1 spec sheet"
  memory_bandwidth_gb_s: "ACME NPU 1 spec sheet"
  peak_tflops: "ACME NPU 1 spec sheet, dense"
  chips_per_node: "ACME 4-card server"
  interconnect_gb_s: "ACME NPU 1 spec sheet, per chip"
"""


def test_every_figure_of_a_chip_or_model_file_needs_a_source(tmp_path: Path, hwplan: Cli) -> None:
    # the README's promise (every number from the catalog has a source), kept by the loader: a figure
    # without one, a source for a field or entry the file lacks, or an empty one are errors
    overlay = tmp_path / "mine" / "hardware"
    overlay.mkdir(parents=True)
    chip = overlay / "acme-npu-1.yaml"
    for edit, words in ((lambda t: t.replace('  memory_gb: "ACME NPU 1 spec sheet"\n', ""), "no source for memory_gb"),
                        (lambda t: t + "  peak_tflops.fp2: x\n", "peak_tflops has no 'fp2'"),
                        (lambda t: t.replace('"ACME 4-card server"', '" "'), "is empty")):
        chip.write_text(edit(MY_CHIP), encoding="utf-8")
        with pytest.raises(CatalogError, match=re.escape(words)):
            load_catalog(overlays=[tmp_path / "mine"])
        code, _, err = hwplan("catalog", "validate", "--add", str(tmp_path / "mine"))
        assert code == 2 and "acme-npu-1.yaml" in err and words in err
    for path in sorted((default_catalog_dir() / "models").glob("*.yaml"))[:3]:  # a model file too
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["sources"].pop("layers", None)
        (tmp_path / "m.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
        with pytest.raises(CatalogError, match="no source for layers"):
            validate_file(ModelFile, read_yaml(tmp_path / "m.yaml"), file="m.yaml")


# An overlay's prices/ adds offers for its chip (prices are no longer in the hardware file).
OVERLAY_OFFER = """offers:
  - {hardware: acme-npu-1, provider: acme internal, market: hyperscaler, mode: on_demand,
     usd_per_chip_hour: 0.9, region: unspecified, as_of: 2026-01-01, source: "ACME finance FY26 chargeback table"}
"""


@pytest.mark.parametrize("price", [False, True])
def test_overlay_with_own_chip_can_be_estimated(tmp_path: Path, price: bool, hwplan: Cli) -> None:
    overlay = tmp_path / "mine" / "hardware"
    overlay.mkdir(parents=True)
    (overlay / "acme-npu-1.yaml").write_text(MY_CHIP, encoding="utf-8")
    if price:
        (tmp_path / "mine" / "prices").mkdir()
        (tmp_path / "mine" / "prices" / "acme-npu-1.yaml").write_text(OVERLAY_OFFER, encoding="utf-8")
    cat = load_catalog(overlays=[tmp_path / "mine"])
    assert "acme-npu-1" in cat.hardware and len(cat.hardware) == len(load_catalog().hardware) + 1
    est = estimate(cat, resolve(cat, model="llama-3.1-8b", hardware="acme-npu-1"), pricing="on_demand",
                   scenario=Scenario.STATIC_BATCH)
    assert est.fits and est.tpot_s > 16e9 / 800e9  # never faster than reading 16 GB of weights
    assert (est.cost_per_hour == pytest.approx(0.9)) if price else est.cost_per_hour is None
    code, out, err = hwplan("estimate", "--model", "llama-3.1-8b", "--hardware", "acme-npu-1",
                            "--add", str(tmp_path / "mine"), "--json")
    assert code == 0, err
    assert json.loads(out)["fits"] is True


def test_catalog_list_hardware_json_covers_schema_ids(hwplan: Cli) -> None:
    """Issue Must-show: every SCHEMA.md hardware id (36) in at least 7 families."""
    code, out, err = hwplan("catalog", "list", "hardware", "--json")
    assert code == 0, err
    rows = json.loads(out)
    ids = {row["id"] for row in rows}
    expected = _schema_ids("hardware")
    assert len(expected) == 36
    assert not set(expected) - ids, f"missing hardware: {sorted(set(expected) - ids)}"
    assert len({row["family"] for row in rows}) >= 7
