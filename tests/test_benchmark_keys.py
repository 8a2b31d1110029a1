"""A model's quality keys name benchmarks quality.yaml lists (its `benchmarks`).

A catalog maintainer's audit (2026-12-07): `quality: {mmmlu: 70}` loaded without a word, and the model then had no
'mmlu' score, so it could meet no general quality floor. Basis: the keys the shipped models use are the benchmarks
quality.yaml describes, and a one-letter typo of one of them is refused naming the file, the field and the key
it may mean.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hardware_catalog import default_catalog_dir
from hardware_catalog.loader import load_catalog as load_files
from planner.errors import CatalogError

SHIPPED = default_catalog_dir()


def _model_with(tmp_path: Path, quality: dict[str, float]) -> Path:
    data = yaml.safe_load((SHIPPED / "models" / "qwen3-32b.yaml").read_text(encoding="utf-8"))
    sources = {k: v for k, v in data["sources"].items() if not k.startswith("quality.")}
    sources.update({f"quality.{k}": "a test's figure" for k in quality})
    (tmp_path / "add" / "models").mkdir(parents=True)
    path = tmp_path / "add" / "models" / "qwen3-32b-copy.yaml"
    path.write_text(yaml.safe_dump({**data, "id": "qwen3-32b-copy", "aliases": [], "quality": quality,
                                    "sources": sources}), encoding="utf-8")
    return path


def test_every_shipped_quality_key_is_a_listed_benchmark() -> None:
    catalog = load_files()
    listed = set(yaml.safe_load((SHIPPED / "quality.yaml").read_text(encoding="utf-8"))["benchmarks"])
    assert {k for m in catalog.models.values() for k in m.quality} <= listed


def test_a_listed_benchmark_loads(tmp_path: Path) -> None:
    path = _model_with(tmp_path, {"mmlu": 70.0})
    assert load_files(overlays=[path.parent.parent]).models["qwen3-32b-copy"].quality == {"mmlu": 70.0}


def test_a_misspelt_benchmark_is_refused_naming_the_key_it_may_mean(tmp_path: Path) -> None:
    path = _model_with(tmp_path, {"mmmlu": 70.0})
    with pytest.raises(CatalogError, match=r"unknown benchmark 'mmmlu' \('mmlu', misspelt\?\)") as err:
        load_files(overlays=[path.parent.parent])
    assert "qwen3-32b-copy.yaml" in str(err.value) and "quality.mmmlu" in str(err.value)


def test_an_overlay_quality_file_without_benchmarks_keeps_the_shipped_ones(tmp_path: Path) -> None:
    """A review: an --add directory's quality.yaml written before the benchmarks block replaced the shipped file
    whole, and a misspelt key then loaded again."""
    path = _model_with(tmp_path, {"mmmlu": 70.0})
    quality = yaml.safe_load((SHIPPED / "quality.yaml").read_text(encoding="utf-8"))
    del quality["benchmarks"]
    (path.parent.parent / "quality.yaml").write_text(yaml.safe_dump(quality), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"unknown benchmark 'mmmlu'"):
        load_files(overlays=[path.parent.parent])
