"""An id names one catalog entry of one kind (hardware, model, runtime, precision; a model's aliases too).

`hwplan catalog show ID` takes an id of any kind (README). Before: an --add directory with a chip
hardware/a10.yaml and a model models/a10.yaml loaded, `catalog validate` said ok, and `catalog show a10`
printed the chip with no word of the model; a model called vllm loaded beside the runtime vllm.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from hardware_catalog import default_catalog_dir
from hardware_catalog.loader import load_catalog as load_files
from planner.errors import CatalogError

SHIPPED = default_catalog_dir()


def _model_as(tmp_path: Path, new_id: str, aliases: list[str]) -> Path:
    """The shipped qwen3-32b under another id (a file the loader takes on its own: the overlay adds it)."""
    data = yaml.safe_load((SHIPPED / "models" / "qwen3-32b.yaml").read_text(encoding="utf-8"))
    (tmp_path / "add" / "models").mkdir(parents=True)
    path = tmp_path / "add" / "models" / f"{new_id}.yaml"
    path.write_text(yaml.safe_dump({**data, "id": new_id, "aliases": aliases}), encoding="utf-8")
    return path


def test_the_same_model_under_a_free_id_loads(tmp_path: Path) -> None:
    """The control: only the id below makes the difference."""
    path = _model_as(tmp_path, "qwen3-32b-copy", [])
    assert "qwen3-32b-copy" in load_files(overlays=[path.parent.parent]).models


@pytest.mark.parametrize(("new_id", "kind"), [("h100-sxm", "hardware"), ("vllm", "runtime"), ("fp8", "precision")])
def test_a_model_id_of_another_kind_is_refused(tmp_path: Path, new_id: str, kind: str) -> None:
    path = _model_as(tmp_path, new_id, [])
    with pytest.raises(CatalogError, match=f"id '{new_id}' is already the id of the {kind}") as caught:
        load_files(overlays=[path.parent.parent])
    assert caught.value.file == str(path) and caught.value.field == "id"


def test_an_alias_naming_a_chip_is_refused(tmp_path: Path) -> None:
    path = _model_as(tmp_path, "qwen3-32b-copy", ["l4"])
    with pytest.raises(CatalogError, match="alias 'l4' is already the id of the hardware") as caught:
        load_files(overlays=[path.parent.parent])
    assert caught.value.field == "aliases.0"


def test_a_chip_beside_a_model_of_its_id_in_one_overlay_is_refused(tmp_path: Path) -> None:
    path = _model_as(tmp_path, "l4x", [])
    (tmp_path / "add" / "hardware").mkdir()
    chip = yaml.safe_load((SHIPPED / "hardware" / "l4.yaml").read_text(encoding="utf-8"))
    (tmp_path / "add" / "hardware" / "l4x.yaml").write_text(yaml.safe_dump({**chip, "id": "l4x"}), encoding="utf-8")
    with pytest.raises(CatalogError, match="id 'l4x' is already the id of the hardware in .*l4x.yaml"):
        load_files(overlays=[path.parent.parent])
    shutil.rmtree(tmp_path / "add" / "models")  # the chip alone loads
    assert "l4x" in load_files(overlays=[tmp_path / "add"]).hardware
