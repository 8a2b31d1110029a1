"""A saved-plans database that cannot be used is one line and exit 2 from the CLI (it was a SQLAlchemy traceback
and exit 1, the infeasible code), and a 503 from the service that does not show its URL; a plan asked to be saved
is printed first. ``replan`` on a ``plan --json`` file (no workload kept) is a named error, not a traceback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from api.app import create_app
from api.settings import Settings
from hardware_catalog.loader import default_catalog_dir

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "heterogeneous-mix.yaml"


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("url", ["sqlite:////nonexistent-dir/plans.db", "postgresql://u:s3cret@127.0.0.1:1/db",
                                 "nosuchdialect://x"])
def test_cli_names_an_unusable_database_in_one_line(hwplan: Callable[..., tuple[int, str, str]], url: str) -> None:
    code, _out, err = hwplan("compare", "a", "b", "--db", url)
    line = _one_line(err)
    assert code == 2 and "plans database" in line and "cannot be used" in line and "s3cret" not in line


def test_plan_save_prints_the_plan_then_fails_on_the_database(hwplan: Callable[..., tuple[int, str, str]],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWPLAN_DATABASE_URL", "sqlite:////nonexistent-dir/plans.db")
    code, out, err = hwplan("plan", str(EXAMPLE), "--json", "--save", "--time-limit", "10")
    assert code == 2 and "sqlite:////nonexistent-dir/plans.db" in _one_line(err)
    assert json.loads(out)["plans"]  # the plan itself is not lost


def test_replan_of_a_plan_json_file_is_a_named_error(hwplan: Callable[..., tuple[int, str, str]],
                                                     tmp_path: Path) -> None:
    code, out, _err = hwplan("plan", str(EXAMPLE), "--json", "--time-limit", "10")
    assert code == 0
    path = tmp_path / "plan.json"
    path.write_text(out)
    code, _out, err = hwplan("replan", str(path))
    assert code == 2 and "PLAN_ID" in _one_line(err) and "keeps no workload" in err


def test_service_answers_503_without_the_databases_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "catalog"
    shutil.copytree(default_catalog_dir(), directory)
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    app = create_app(Settings(catalog_dir=directory, database_url=url))
    c = TestClient(app, raise_server_exceptions=False)
    assert c.get("/v1/plans").status_code == 200

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(app.state.plans.engine, "connect", broken)
    r = c.get("/v1/plans")
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "plans.db" not in r.text and "disk I/O" not in r.text and "retry later" in r.json()["detail"]


def _out_of_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every search's deadline has passed before its first round (a real search, cut as a slow one is)."""
    monkeypatch.setattr("planner.search.branch_bound.passed", lambda _deadline: True)


def test_cli_does_not_save_a_search_that_ran_out_of_time(hwplan: Callable[..., tuple[int, str, str]],
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """It has no plan and no proof that none exists: saved, it read as a stored answer (it was saved, exit 3)."""
    from hardware_catalog.saved import PlanStore

    url = f"sqlite:///{tmp_path / 'plans.db'}"
    monkeypatch.setenv("HWPLAN_DATABASE_URL", url)
    code, _out, err = hwplan("plan", str(EXAMPLE), "--json", "--save", "--time-limit", "10")
    assert code == 0 and "saved plan" in err  # (given its time, saved)
    [first] = PlanStore(url).list()
    _out_of_time(monkeypatch)
    code, out, err = hwplan("plan", str(EXAMPLE), "--json", "--save", "--time-limit", "10")
    assert code == 3 and json.loads(out)["search"]["solver_status"] == "TIME_LIMIT"
    assert "not saved: the search ran out of time" in err and "saved plan" not in err
    code, out, err = hwplan("replan", first.id, "--save", "--json")  # nor is a re-plan's
    assert code == 0 and "not saved: the search ran out of time" in err and json.loads(out)
    assert [p.id for p in PlanStore(url).list()] == [first.id]


def test_service_does_not_save_a_search_that_ran_out_of_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "catalog"
    shutil.copytree(default_catalog_dir(), directory)
    c = TestClient(create_app(Settings(catalog_dir=directory, database_url=f"sqlite:///{tmp_path / 'plans.db'}")))
    body = yaml.safe_load(EXAMPLE.read_text())
    _out_of_time(monkeypatch)
    r = c.post("/v1/plans?save=true&time_limit_s=5", json=body)
    assert r.status_code == 200 and "Location" not in r.headers and "X-Plan-Id" not in r.headers, r.headers
    assert r.headers["X-Plan-Saved"].startswith("no: the search ran out of time")
    assert r.json()["search"]["solver_status"] == "TIME_LIMIT" and not r.json()["plans"]
    assert c.get("/v1/plans").json()["plans"] == []
    monkeypatch.undo()  # a search given its time is saved as before
    r = c.post("/v1/plans?save=true&time_limit_s=5", json=body)
    assert r.status_code == 201 and r.headers["X-Plan-Id"] and "X-Plan-Saved" not in r.headers
    assert [p["id"] for p in c.get("/v1/plans").json()["plans"]] == [r.headers["X-Plan-Id"]]
