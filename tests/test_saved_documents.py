"""Saved-plan documents: the CLI's ``compare`` / ``export --json`` print what the API answers (one
typed output model each), the API's export JSON holds the same files as its text download, and a
saved plan given a serving shape no engine can run (a lone prefill pool, EP on a dense model, DP
attention that does not divide tp) is refused, naming the feature, instead of exported without it
(tests/test_export_serving.py exports the shapes engines can run)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from api import Settings, create_app
from cli.output.cost_render import cost_lines
from hardware_catalog import load_catalog
from hardware_catalog.export import ExportError, export
from hardware_catalog.inputs.workload import WorkloadIn, to_workload
from hardware_catalog.outputs import CompareOut, ExportOut, PlanResultOut, SavedPlanOut, plan_result_out
from hardware_catalog.saved import PlanStore, prices_used
from planner.search.planning import plan

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """Two saved plans of one workload (the second with half the traffic) in a fresh SQLite file."""
    tmp = tmp_path_factory.mktemp("docs")
    url = f"sqlite:///{tmp / 'plans.db'}"
    body = yaml.safe_load((ROOT / "examples" / "heterogeneous-mix.yaml").read_text())
    half = {**body, "traffic": {**body["traffic"], "requests_per_s": 30, "peak_requests_per_s": 30}}
    with TestClient(create_app(Settings(catalog_dir=tmp / "catalog", database_url=url))) as c:
        ids = []
        for w in (body, half):
            r = c.post("/v1/plans", json=w, params={"save": "true", "top": 2, "time_limit_s": 20})
            assert r.status_code == 201, r.text
            ids.append(r.headers["X-Plan-Id"])
    return url, ids[0], ids[1]


def _client(url: str, tmp: Path) -> TestClient:
    return TestClient(create_app(Settings(catalog_dir=tmp / "catalog", database_url=url)))


def test_cli_compare_and_export_print_the_api_documents(saved: tuple[str, str, str], tmp_path: Path,
                                                        hwplan: Callable[..., tuple[int, str, str]]) -> None:
    url, a, b = saved
    with _client(url, tmp_path) as c:
        api_compare = c.get("/v1/plans/compare", params={"a": a, "b": b}).json()
        api_export = c.get(f"/v1/plans/{a}/export", params={"format": "vllm"},
                           headers={"Accept": "application/json"})
        doc = ExportOut.model_validate(api_export.json())
        texts = [c.get(f"/v1/plans/{a}/export", params={"format": "vllm", "deployment": k + 1}).text
                 for k in range(len(doc.files))]
        got = c.get(f"/v1/plans/{a}").json()
    SavedPlanOut.model_validate(got)
    CompareOut.model_validate(api_compare)
    assert api_export.headers["content-type"].startswith("application/json")
    assert [f.content for f in doc.files] == texts  # the JSON holds the downloads' files, one per deployment
    assert doc.rank == 1 and doc.format == "vllm" and len(doc.files) == len(got["result"]["plans"][0]["deployments"])

    code, out, err = hwplan("compare", a, b, "--db", url, "--json")
    assert code == 0, err
    assert json.loads(out) == api_compare
    changed = {d["field"]: (d["a"], d["b"]) for d in api_compare["changed"]["workload"]}
    assert changed == {"traffic.requests_per_s": (60.0, 30.0), "traffic.peak_requests_per_s": (60.0, 30.0)}
    assert api_compare["changed"]["objective"] is None  # both ranked by cost
    code, out, err = hwplan("export", a, "--format", "vllm", "--json", "--db", url)
    assert code == 0, err
    assert json.loads(out) == api_export.json()


def test_cli_compare_text_reads_the_api_document(saved: tuple[str, str, str], tmp_path: Path,
                                                 hwplan: Callable[..., tuple[int, str, str]]) -> None:
    """Without --json, compare prints the two top plans side by side and each change: its figures are the
    document's (the API's), the cost change with its sign and share of a's cost."""
    url, a, b = saved
    with _client(url, tmp_path) as c:
        doc = CompareOut.model_validate(c.get("/v1/plans/compare", params={"a": a, "b": b}).json())
    code, out, err = hwplan("compare", a, b, "--db", url, "--wide")
    assert code == 0, err
    ta, tb = doc.a.top_plan, doc.b.top_plan
    assert ta is not None and tb is not None and doc.cost_per_month_change is not None
    text = " ".join(out.split())
    assert f"a: {a}" in text and f"b: {b}" in text
    for top in (ta, tb):
        assert f"${top.per_month:,.0f}" in text and ", ".join(top.hardware) in text
    # half the traffic: cheaper, by the document's change over a's cost
    assert doc.cost_per_month_change < 0
    assert f"-${-doc.cost_per_month_change:,.0f}/month from a to b ({doc.cost_per_month_change / ta.per_month:+.1%})" \
        in text
    assert "traffic.requests_per_s: 60 -> 30" in text and "traffic.peak_requests_per_s: 60 -> 30" in text
    # what changed in the top plan, named as the table's rows name it (the document's field names were printed)
    changed = text.rsplit("top plan: ", 1)[1]
    assert "$/month" in changed and "per_month" not in changed and changed.endswith("changed (above)")
    assert "prices per chip-hour: no change" in text


def test_compare_rejects_an_unknown_id_and_the_list_pages(saved: tuple[str, str, str], tmp_path: Path) -> None:
    url, a, b = saved
    with _client(url, tmp_path) as c:
        missing = c.get("/v1/plans/compare", params={"a": a, "b": "nope"})
        assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "query.b"
        gone = c.get("/v1/plans/nope")
        assert gone.status_code == 404 and gone.json()["errors"][0]["field"] == "path.plan_id"
        first = c.get("/v1/plans", params={"limit": 1}).json()
        second = c.get("/v1/plans", params={"limit": 1, "offset": first["next_offset"]}).json()
    assert [p["id"] for p in first["plans"] + second["plans"]] == [b, a]  # newest first


def _with(doc: PlanResultOut, **deployment: Any) -> PlanResultOut:
    data = doc.model_dump(mode="json", exclude_unset=True)
    for p in data["plans"]:
        p["deployments"] = [{**d, **deployment} for d in p["deployments"]]
    return PlanResultOut.model_validate(data)


@pytest.mark.parametrize(("change", "named"), [({"role": "prefill"}, "disaggregation"),
                                               ({"ep": 2}, "expert_parallel"),
                                               ({"dp_attention": 2}, "dp_attention")])
def test_a_plan_with_a_serving_shape_no_engine_runs_is_refused(
        saved: tuple[str, str, str], catalog: Any, change: dict[str, Any], named: str) -> None:
    store = PlanStore(saved[0])
    record = store.get(saved[1])
    store.close()
    assert record is not None
    doc = PlanResultOut.model_validate(record.result)
    assert export(doc, catalog, "vllm")  # the same plan without the feature exports
    with pytest.raises(ExportError, match=named):
        export(_with(doc, **change), catalog, "vllm")
    with pytest.raises(ExportError, match=named):
        export(_with(doc, **change), catalog, "k8s")


def test_compare_of_two_plan_json_files_names_what_differs(tmp_path: Path,
                                                          hwplan: Callable[..., tuple[int, str, str]]) -> None:
    # a `plan --json` file holds the workload's name and the objective, not the workload: those are compared
    files = []
    for name, objective in (("support-chatbot", "cost"), ("edge-assistant", "latency")):
        code, out, err = hwplan("plan", str(ROOT / "examples" / f"{name}.yaml"), "--json", "--objective", objective,
                                "--top", "1")
        assert code == 0, err
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(out, encoding="utf-8")
    code, out, err = hwplan("compare", *map(str, files), "--json")
    assert code == 0, err
    changed = json.loads(out)["changed"]
    assert changed["workload"] == [{"field": "name", "a": "support-chatbot", "b": "edge-assistant"}]
    assert changed["objective"] == {"field": "objective", "a": "cost", "b": "latency"}


def test_replan_ranks_by_the_saved_objective(tmp_path: Path, hwplan: Callable[..., tuple[int, str, str]]) -> None:
    # a latency-ranked save re-planned by cost reported its top plan "changed" with the catalog unchanged
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    body = yaml.safe_load((ROOT / "examples" / "heterogeneous-mix.yaml").read_text())
    with TestClient(create_app(Settings(catalog_dir=tmp_path / "catalog", database_url=url))) as c:
        r = c.post("/v1/plans", json=body, params={"save": "true", "top": 2, "objective": "latency"})
        assert r.status_code == 201, r.text
        plan_id = r.headers["X-Plan-Id"]
    code, out, err = hwplan("replan", plan_id, "--db", url, "--json")
    assert code == 0, err
    changed = json.loads(out)["changed"]
    assert changed["objective"] is None
    assert changed["top_plan"] == [], changed["top_plan"]


def test_compare_names_a_price_only_where_both_sides_price_the_chip() -> None:
    """Each saved record keeps the prices of the chips its own plans use. Two saves on one catalog whose
    plans use different chips listed 'on_demand.mi300x null -> 6.0' and 'on_demand.inferentia2 0.758 ->
    null' as price changes; nothing was repriced. Basis: the same catalog version on both sides, so the only
    change is the one made on purpose below."""
    from hardware_catalog.compare import compare

    def record(prices: dict[str, dict[str, float]]) -> dict[str, object]:
        return {"id": "x", "workload": {"name": "w"}, "result": {"plans": [], "objective": "cost"},
                "catalog_version": "v1", "prices": prices}

    a = record({"on_demand": {"l4": 0.8, "inferentia2": 0.758}, "spot": {"l4": 0.3}})
    b = record({"on_demand": {"l4": 0.8, "mi300x": 6.0}, "reserved_1y": {"l4": 0.5}})
    assert compare(a, b).changed.prices == []
    b["prices"]["on_demand"]["l4"] = 0.9  # type: ignore[index]
    assert [(c.field, c.a, c.b) for c in compare(a, b).changed.prices] == [("on_demand.l4", 0.8, 0.9)]


def test_a_chip_priced_by_larger_instances_is_its_own_price(tmp_path: Path) -> None:
    """One catalog prices an L40S at $2.68/chip-h where any instance holds the replica (AWS g6e.xlarge, OCI's
    VM) and at $3.766 where the replica's 2 chips need a larger one (only g6e.48xlarge): two saves of one
    workload at 60 and 30 requests/s, the second's plan 2 using a 2-chip L40S replica, were compared as
    'on_demand.l40s: 2.6805 -> 3.766', and the text output explained only the first price. Basis: the
    plan's own cost sources (their offers' chips_per_instance), which the key must follow."""
    from hardware_catalog.compare import compare

    cat = load_catalog()
    body = yaml.safe_load((ROOT / "examples" / "heterogeneous-mix.yaml").read_text())
    half = {**body, "traffic": {**body["traffic"], "requests_per_s": 30, "peak_requests_per_s": 30}}

    def result(w: dict[str, Any]) -> dict[str, Any]:
        return plan_result_out(plan(to_workload(WorkloadIn.model_validate(w)), cat, top=2)
                               ).model_dump(mode="json", exclude_unset=True)

    a, b = result(body), result(half)
    l40s = [s for p in b["plans"] for s in p["cost"]["sources"] if s["hardware"] == "l40s"]
    sizes = {s["instance_chips"]: s["usd_per_chip_hour"] for s in l40s}
    assert len(sizes) == 2 and sizes[1] != sizes[2], sizes  # the case: two prices of one chip in one result
    for s in l40s:  # each price's offers are instances large enough for its replicas
        assert all(o["chips_per_instance"] >= s["instance_chips"] for o in s["offers"])
    used = prices_used(b)["on_demand"]
    assert used["l40s"] == sizes[1] and used["l40s (instances of >= 2 chips)"] == sizes[2]
    doc = compare(*({"id": k, "workload": {"name": "w"}, "result": r, "catalog_version": "v1",
                     "prices": prices_used(r)} for k, r in (("a", a), ("b", b))))
    assert doc.changed.prices == []  # nothing was repriced
    lines = [line for line in cost_lines(PlanResultOut.model_validate(b)) if line.startswith("price l40s")]
    assert len(lines) == 2 and f"price l40s (instances of >= 2 chips): ${sizes[2]:.2f}" in " ".join(lines), lines


def test_compare_says_what_it_could_not_compare() -> None:
    """A new-user audit: plans saved at on_demand and at spot printed 'prices per chip-hour: no change' (no price
    was comparable); a saved plan against a `plan --json` file listed every field of the saved workload as changed
    from nothing; two infeasible results said 'one side has no plan'. Basis: the records themselves."""
    from cli.output.compare_render import compare_lines
    from hardware_catalog.compare import compare

    def record(prices: dict[str, dict[str, float]], workload: dict[str, Any], plans: list[Any]) -> dict[str, Any]:
        return {"id": "x" if workload else None, "workload": workload,
                "result": {"plans": plans, "objective": "cost", "workload": "w"}, "catalog_version": "v1",
                "prices": prices}

    saved = {"name": "w", "traffic": {"requests_per_s": 5}}
    spot = compare(record({"on_demand": {"l4": 0.8}}, saved, []), record({"spot": {"l4": 0.3}}, saved, []))
    assert spot.changed.prices == [] and spot.changed.prices_compared == 0
    lines = compare_lines(spot)
    assert "prices per chip-hour: not compared (no chip is priced at the same pricing mode on both sides)" in lines
    assert "top plan's cost: not compared (neither side has a plan)" in lines
    same = compare(record({"spot": {"l4": 0.3}}, saved, []), record({"spot": {"l4": 0.3}}, saved, []))
    assert "prices per chip-hour: no change (1 chip price(s) both sides use)" in compare_lines(same)
    with_file = compare(record({"on_demand": {"l4": 0.8}}, saved, []), record({}, {}, []))
    assert [(c.field, c.a, c.b) for c in with_file.changed.workload] == []  # the same name: nothing else is known
    assert "workload: the same name (a `hwplan plan --json` file keeps no more)" in compare_lines(with_file, files=True)


def test_a_plan_file_written_before_instance_chips_is_still_read(tmp_path: Path,
                                                                 hwplan: Callable[..., tuple[int, str, str]]) -> None:
    """cost.sources[].instance_chips is new (a chip priced by larger instances): a `plan --json` file from before
    it still compares (1: any instance, which is what it was priced at)."""
    code, out, err = hwplan("plan", str(ROOT / "examples" / "edge-assistant.yaml"), "--json", "--top", "1")
    assert code == 0, err
    doc = json.loads(out)
    for p in doc["plans"]:
        for s in p["cost"]["sources"]:
            s.pop("instance_chips")
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc), encoding="utf-8")
    code, out, err = hwplan("compare", str(old), str(old))
    assert code == 0, err
    assert "top plan's cost: the same" in " ".join(out.split())
