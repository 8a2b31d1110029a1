"""Saved plans in a real database: SQLite (a file, surviving a server restart) and PostgreSQL (a
temporary cluster started here with initdb/pg_ctl; skipped, saying why, only when it cannot start).
Migrations upgrade from empty and downgrade; 32 concurrent saves through the API lose nothing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect

from hardware_catalog.saved import PlanStore, downgrade, upgrade

EXAMPLE = Path(__file__).parent.parent / "examples" / "support-chatbot.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL is not installed (initdb/pg_ctl not on PATH; .ci/run installs it)")
    root = Path(tempfile.mkdtemp(prefix="hwplan-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the postgres account
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        shutil.chown(root, user="postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data = root / "data"
    try:
        subprocess.run([*run_as, initdb, "-D", str(data), "-U", "hwplan", "--auth=trust"], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                        f"-p {port} -k {root} -c listen_addresses=''", "start"], check=True, capture_output=True,
                       timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL could not start: {exc}")
    try:
        yield f"postgresql+psycopg://hwplan@/postgres?host={root}&port={port}"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'plans.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    engine = create_engine(url)
    downgrade(engine)  # each test starts from an empty database
    engine.dispose()


def test_migrations_upgrade_from_empty_and_downgrade(db_url: str) -> None:
    engine = create_engine(db_url)
    assert "saved_plans" not in inspect(engine).get_table_names()
    upgrade(engine)
    tables = inspect(engine).get_table_names()
    assert {"saved_plans", "alembic_version"} <= set(tables)
    assert {c["name"] for c in inspect(engine).get_columns("saved_plans")} == {
        "id", "created_at", "saved_by", "workload_name", "catalog_version", "workload", "result", "prices"}
    downgrade(engine)
    assert "saved_plans" not in inspect(engine).get_table_names()
    engine.dispose()


def _client(db_url: str, tmp_path: Path, **env: str) -> Any:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    settings = Settings(catalog_dir=tmp_path / "catalog", database_url=db_url, plan_workers=8, plan_queue=64, **env)
    return TestClient(create_app(settings))


def _workload() -> dict[str, Any]:
    import yaml

    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def test_saved_plan_survives_restart_and_keeps_its_provenance(db_url: str, tmp_path: Path) -> None:
    with _client(db_url, tmp_path, api_keys="alice:k-alice") as c:
        r = c.post("/v1/plans?save=true&time_limit_s=5", json=_workload(), headers={"Authorization": "Bearer k-alice"})
        assert r.status_code == 201, r.text
        plan_id = r.headers["X-Plan-Id"]
        assert r.headers["Location"] == f"/v1/plans/{plan_id}"
        version = r.headers["X-Catalog-Version"]
        result = r.json()
    with _client(db_url, tmp_path) as c:  # a new app (a restarted server) on the same database
        saved = c.get(f"/v1/plans/{plan_id}").json()
        # the answer as saved: every plan but its `deploy` (the catalog's answer at the time: export recomputes it)
        assert saved["result"] == {**result, **{k: [{f: v for f, v in p.items() if f != "deploy"} for p in result[k]]
                                                for k in ("plans", "pareto")}}
        assert saved["saved_by"] == "alice" and "k-alice" not in str(saved)
        assert saved["catalog_version"] == version
        top = result["plans"][0]
        hw = top["deployments"][0]["hardware"]
        assert saved["prices"]["on_demand"][hw] is not None
        assert saved["workload"]["name"] == "support-chatbot"
        listed = c.get("/v1/plans", params={"workload": "support-chatbot"}).json()["plans"]
        assert [p["id"] for p in listed] == [plan_id]
        assert c.get("/v1/plans", params={"workload": "other"}).json()["plans"] == []
        assert c.get("/v1/plans", params={"since": "2999-01-01T00:00:00Z"}).json()["plans"] == []
        assert c.get(f"/v1/plans/compare?a={plan_id}&b={plan_id}").json()["changed"]["workload"] == []
        assert "engine" in c.get(f"/v1/plans/{plan_id}/export", params={"format": "k8s"}).text
        assert c.delete(f"/v1/plans/{plan_id}").status_code in (401, 403)  # deleting needs a key


def test_32_concurrent_saves_lose_nothing(db_url: str, tmp_path: Path) -> None:
    store = PlanStore(db_url)
    result = {"workload": "w", "plans": []}

    def save(i: int) -> str:
        return store.save(workload={"name": f"w{i}"}, result=result, catalog_version="v", prices={},
                          saved_by="cli").id

    with ThreadPoolExecutor(32) as pool:
        ids = list(pool.map(save, range(32)))
    assert len(set(ids)) == 32
    stored = store.list(limit=200)
    assert sorted(s.id for s in stored) == sorted(ids)
    assert sorted(s.workload_name for s in stored) == sorted(f"w{i}" for i in range(32))
    page1, page2 = store.list(limit=20), store.list(limit=20, offset=20)
    assert len(page1) == 20 and len(page2) == 12 and not {s.id for s in page1} & {s.id for s in page2}
    assert store.delete(ids[0]) and not store.delete(ids[0]) and store.get(ids[0]) is None
    store.close()


def test_since_compares_instants_whatever_the_offset(db_url: str) -> None:
    """``since`` is an instant: the same moment written at +05:00 or -05:00 selects the same plans (SQLite keeps
    the store's UTC text without a zone, and compared the offset's wall clock with it: a time before every plan,
    written at +05:00, found none, and one an hour after them, at -05:00, found all). Naive: UTC."""
    import datetime

    store = PlanStore(db_url)
    saved = store.save(workload={"name": "w"}, result={"workload": "w", "plans": []}, catalog_version="v",
                       prices={}, saved_by="cli")
    before, after = saved.created_at - datetime.timedelta(minutes=1), saved.created_at + datetime.timedelta(hours=1)
    east, west = datetime.timezone(datetime.timedelta(hours=5)), datetime.timezone(datetime.timedelta(hours=-5))
    for moment, found in ((before, [saved.id]), (after, [])):
        for zone in (east, west, datetime.UTC):
            assert [p.id for p in store.list(since=moment.astimezone(zone))] == found, (moment, zone)
        naive_utc = moment.astimezone(datetime.UTC).replace(tzinfo=None)
        assert [p.id for p in store.list(since=naive_utc)] == found
    store.close()
