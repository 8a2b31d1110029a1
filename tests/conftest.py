"""Shared fixtures: the shipped catalog (loaded once per session), a one-row grid helper, the CLI in-process
and the REST service on its own catalog directory."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hardware_catalog import load_catalog
from hardware_catalog.caching import cache
from planner.domain import Catalog
from planner.model.estimate import config_grid, resolve
from planner.model.grid import CatalogTables, Grid

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

# tests never write ~200 MB entries into the user's cache directory; tests/test_catalog_cache.py turns
# the compiled catalog cache back on, in a temporary directory
os.environ.setdefault("HWPLAN_NO_CACHE", "1")

@pytest.fixture(scope="session", autouse=True)
def _saved_plans_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Saved plans go to a temporary SQLite file, never the user's ~/.hwplan/plans.db (the
    servers the tests start inherit it; a test that needs its own database passes a URL)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("HWPLAN_DATABASE_URL", f"sqlite:///{tmp_path_factory.mktemp('saved') / 'plans.db'}")
    yield
    patch.undo()


@functools.cache
def _shipped() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return _shipped()


@pytest.fixture(scope="session")
def tables(catalog: Catalog) -> CatalogTables:
    return CatalogTables.from_catalog(catalog)


@pytest.fixture(scope="session")
def one_row(catalog: Catalog, tables: CatalogTables) -> Callable[..., Grid]:
    """one_row(model=..., hardware=..., tp=..., precision=...) -> the config's one-row Grid."""

    def build(**kwargs: Any) -> Grid:
        return config_grid(catalog, resolve(catalog, **kwargs), tables)

    return build


@pytest.fixture
def hwplan(monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the console entry point in-process: hwplan(*args) -> (exit code, stdout, stderr)."""
    from cli.main import main

    def cached(directory: Any = None, *, overlays: Any = ()) -> Catalog:
        if directory is None and not overlays:
            return _shipped()  # the shipped catalog, parsed once per session
        return load_catalog(directory, overlays=overlays)

    monkeypatch.setattr("cli.app.load_catalog", cached)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr("sys.argv", ["hwplan", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def cache_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty cache directory for hwplan's caches (compiled catalog, candidate arrays), on."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV_DIR, str(folder))
    monkeypatch.delenv(cache.ENV_OFF, raising=False)
    return folder


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows each search sends through the queueing model (``Prepared._run``), appended as they go."""
    import planner.search.shapes.prepare as prepare_module

    counts: list[int] = []
    run = prepare_module.Prepared._run

    def counted(self: prepare_module.Prepared, rows: Any, *args: Any, **kwargs: Any) -> Any:
        counts.append(len(rows))
        return run(self, rows, *args, **kwargs)

    monkeypatch.setattr(prepare_module.Prepared, "_run", counted)
    return counts


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """The REST service on its own catalog directory (empty, so the service fills it from the shipped catalog,
    tests/test_api.py; it keeps its lock and version files there), one per test module, answering errors as a
    client sees them (no exception raised into the test)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    return TestClient(create_app(Settings(catalog_dir=tmp_path_factory.mktemp("api") / "catalog")),
                      raise_server_exceptions=False)


@pytest.fixture
def small_catalog_dir(tmp_path: Path) -> Path:
    """A copy of the shipped catalog with cache_helpers' SMALL_HARDWARE and SMALL_MODELS alone (the answers' and
    rows' cache tests)."""
    from cache_helpers import SMALL_HARDWARE, SMALL_MODELS, small_catalog

    return small_catalog(tmp_path / "catalog", SMALL_HARDWARE, SMALL_MODELS)
