"""The service's catalog directory follows an upgraded shipped catalog when nobody changed it, and
never overwrites one that was changed (by the API or by hand) or that hwplan did not create."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from api import store as store_module
from api.store import CatalogStore
from hardware_catalog import default_catalog_dir

PRICE_FILE = Path("prices") / "h100-sxm.yaml"


def _fake_upgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 'new release' of the shipped catalog: a copy with one file edited."""
    new = tmp_path / "shipped-v2"
    shutil.copytree(default_catalog_dir(), new)
    (new / PRICE_FILE).write_bytes((new / PRICE_FILE).read_bytes() + b"# v2\n")
    monkeypatch.setattr(store_module, "default_catalog_dir", lambda: new)
    return new


def test_an_untouched_copy_follows_the_upgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "catalog"
    CatalogStore(directory).initialise()
    before = (directory / ".version").read_bytes()
    new = _fake_upgrade(tmp_path, monkeypatch)
    store = CatalogStore(directory)
    store.initialise()
    assert (directory / PRICE_FILE).read_bytes() == (new / PRICE_FILE).read_bytes()
    assert not store.outdated_base and (directory / ".version").read_bytes() != before
    assert not (directory / ".shipped.next").exists()


def test_a_hand_edited_copy_is_kept_and_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "catalog"
    CatalogStore(directory).initialise()
    edited = directory / "hardware" / "l4.yaml"
    edited.write_bytes(edited.read_bytes() + b"# mine\n")
    _fake_upgrade(tmp_path, monkeypatch)
    store = CatalogStore(directory)
    store.initialise()
    assert edited.read_bytes().endswith(b"# mine\n")
    assert store.outdated_base


def test_a_directory_hwplan_did_not_create_is_never_touched(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "mine"
    shutil.copytree(default_catalog_dir(), directory)  # the user's own catalog: no .shipped marker
    _fake_upgrade(tmp_path, monkeypatch)
    store = CatalogStore(directory)
    store.initialise()
    assert (directory / PRICE_FILE).read_bytes() == (default_catalog_dir() / PRICE_FILE).read_bytes()
    assert store.outdated_base


def test_an_interrupted_refresh_finishes_on_the_next_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "catalog"
    CatalogStore(directory).initialise()
    new = _fake_upgrade(tmp_path, monkeypatch)
    calls = {"n": 0}
    real = store_module.atomic_write

    def dies_after_marker(path: Path, data: bytes) -> None:
        real(path, data)
        calls["n"] += 1
        if calls["n"] == 2:  # the .shipped.next marker, then one file: a crash
            raise KeyboardInterrupt

    monkeypatch.setattr(store_module, "atomic_write", dies_after_marker)
    with pytest.raises(KeyboardInterrupt):
        CatalogStore(directory).initialise()
    monkeypatch.setattr(store_module, "atomic_write", real)
    store = CatalogStore(directory)
    store.initialise()
    assert (directory / PRICE_FILE).read_bytes() == (new / PRICE_FILE).read_bytes()
    assert not store.outdated_base and store_module._digest(directory) == store_module._digest(new)
