"""A plan of several deployments has one engine launch script per deployment, each run on its own machines. The
service's download joined them into one file named after the first, whose first `exec` never returned: running it
started the first deployment only. Now the download is one deployment's script (``deployment``), a plan of several
without one is a 422 naming the files, and the JSON answer (and ``hwplan export --out``) holds them all."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.loader import default_catalog_dir
from hardware_catalog.outputs import plan_result_out
from hardware_catalog.saved import PlanStore
from planner.domain import Catalog
from planner.search.planning import plan

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "support-chatbot.yaml"


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Iterator[tuple[TestClient, str, str]]:
    """A saved plan whose plan 1 has two deployments (support-chatbot: 1 x L4 + 1 x L40S)."""
    tmp = tmp_path_factory.mktemp("two")
    shutil.copytree(default_catalog_dir(), tmp / "catalog")
    url = f"sqlite:///{tmp / 'plans.db'}"
    import yaml

    result = plan_result_out(plan(load_workload(EXAMPLE), catalog, top=1, time_limit_s=10)).model_dump(
        mode="json", exclude_unset=True)
    assert len(result["plans"][0]["deployments"]) == 2, result["plans"][0]["deployments"]
    saved = PlanStore(url).save(workload=yaml.safe_load(EXAMPLE.read_text()), result=result, catalog_version="v",
                                prices={}, saved_by="cli")
    with TestClient(create_app(Settings(catalog_dir=tmp / "catalog", database_url=url)),
                    raise_server_exceptions=False) as c:
        yield c, saved.id, url


def test_download_is_one_deployments_script(two: tuple[TestClient, str, str]) -> None:
    c, plan_id, _url = two
    everything = c.get(f"/v1/plans/{plan_id}/export", params={"format": "vllm"}, headers={"Accept": "application/json"})
    files = everything.json()["files"]
    assert len(files) == 2
    r = c.get(f"/v1/plans/{plan_id}/export", params={"format": "vllm"})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["query.deployment"]
    assert all(f["name"] in r.json()["detail"] for f in files)
    for k, f in enumerate(files, start=1):
        r = c.get(f"/v1/plans/{plan_id}/export", params={"format": "vllm", "deployment": k})
        assert r.status_code == 200 and r.text == f["content"] and r.text.count("exec ") == 1
        assert f'filename="{f["name"]}"' in r.headers["content-disposition"]
    one = c.get(f"/v1/plans/{plan_id}/export", params={"format": "vllm", "deployment": 2},
                headers={"Accept": "application/json"}).json()["files"]
    assert one == files[1:]
    assert c.get(f"/v1/plans/{plan_id}/export", params={"format": "vllm", "deployment": 3}).status_code == 422
    assert c.get(f"/v1/plans/{plan_id}/export", params={"format": "k8s"}).status_code == 200  # one file: all
    assert c.get(f"/v1/plans/{plan_id}/export", params={"format": "k8s", "deployment": 1}).status_code == 422


def test_cli_prints_one_deployment_or_writes_each(two: tuple[TestClient, str, str], tmp_path: Path,
                                                  hwplan: Callable[..., tuple[int, str, str]]) -> None:
    _c, plan_id, url = two
    code, out, err = hwplan("export", plan_id, "--format", "vllm", "--db", url, "--deployment", "2")
    assert code == 0, err
    assert out.count("#!/bin/sh") == 1 and "deployment 2" in out
    code, out, err = hwplan("export", plan_id, "--format", "vllm", "--db", url)
    assert code == 0 and out.count("#!/bin/sh") == 2 and "one per deployment" in err  # the terminal shows both
    code, out, err = hwplan("export", plan_id, "--format", "vllm", "--db", url, "--out", str(tmp_path / "o"))
    assert code == 0 and len(list((tmp_path / "o").iterdir())) == 2
