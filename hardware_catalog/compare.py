"""Two planning results side by side, and what changed between them (``hwplan compare``, ``replan``)."""

from __future__ import annotations

from typing import Any

from hardware_catalog.outputs import ChangesOut, ComparedOut, CompareOut, FieldChangeOut, TopPlanOut, VersionChangeOut

__all__ = ["compare"]


def _top(result: dict[str, Any]) -> TopPlanOut | None:
    top = (result.get("plans") or [None])[0]
    if top is None:
        return None
    pr = top["predicted"]
    return TopPlanOut(
        model=top["model"], precision=top["precision"], kv_precision=top["kv_precision"], runtime=top["runtime"],
        hardware=[f"{d['replicas']} x {d['chips_per_replica']} {d['hardware']}" for d in top["deployments"]],
        per_month=top["cost"]["per_month"], per_million_tokens=top["cost"]["per_million_tokens"],
        ttft_ms_p99=pr["ttft_ms_p99"], tpot_ms_p99=pr["tpot_ms_p99"], e2e_ms_p99=pr["e2e_ms_p99"],
        quality=top["quality"]["score"])


def _diff(a: Any, b: Any, path: str = "") -> list[FieldChangeOut]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[FieldChangeOut] = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    return [] if a == b else [FieldChangeOut(field=path, a=a, b=b)]


def _shared_prices(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str]]:
    """(pricing mode, chip) pairs both records price. Each record keeps the prices of the chips its own plans use
    (``saved.prices_used``): a chip only one side's plans use, or a mode only one side plans at, has no price on
    the other to differ from."""
    return [(mode, hardware) for mode in sorted(set(a) & set(b)) for hardware in sorted(set(a[mode]) & set(b[mode]))]


def _price_changes(a: dict[str, Any], b: dict[str, Any]) -> list[FieldChangeOut]:
    """The chips whose price per chip-hour, at one pricing mode, differs between the records (``_shared_prices``)."""
    return [change for mode, hardware in _shared_prices(a, b)
            for change in _diff(a[mode][hardware], b[mode][hardware], f"{mode}.{hardware}")]


def _workloads(a: dict[str, Any], b: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The records' workloads as far as both keep them: a `plan --json` file keeps only the workload's name (the
    result's ``workload``), so beside one only the names are compared (a saved workload's every field read as
    changed from nothing)."""
    def name(record: dict[str, Any]) -> dict[str, Any]:
        return {"name": (record["workload"] or {}).get("name") or record["result"].get("workload")}

    if a["workload"] and b["workload"]:
        return a["workload"], b["workload"]
    return name(a), name(b)


def compare(a: dict[str, Any], b: dict[str, Any]) -> CompareOut:
    """``a`` and ``b``: saved-plan records (id, workload, result, catalog_version, prices)."""
    ta, tb = _top(a["result"]), _top(b["result"])
    delta = None
    if ta and tb and ta.per_month is not None and tb.per_month is not None:
        delta = round(tb.per_month - ta.per_month, 2)
    return CompareOut(
        a=ComparedOut(id=a.get("id"), top_plan=ta), b=ComparedOut(id=b.get("id"), top_plan=tb),
        cost_per_month_change=delta,
        changed=ChangesOut(
            workload=_diff(*_workloads(a, b)),
            objective=None if a["result"].get("objective") == b["result"].get("objective")
            else FieldChangeOut(field="objective", a=a["result"].get("objective"), b=b["result"].get("objective")),
            catalog_version=None if a["catalog_version"] == b["catalog_version"]
            else VersionChangeOut(a=a["catalog_version"], b=b["catalog_version"]),
            prices=_price_changes(a["prices"], b["prices"]),
            prices_compared=len(_shared_prices(a["prices"], b["prices"])),
            top_plan=_diff(ta.model_dump(mode="json") if ta else {}, tb.model_dump(mode="json") if tb else {})))
