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


def _price_changes(a: dict[str, Any], b: dict[str, Any]) -> list[FieldChangeOut]:
    """The chips whose price per chip-hour, at one pricing mode, differs between the records. Each
    record keeps the prices of the chips its own plans use (``saved.prices_used``): a chip only one
    side's plans use has no price on the other to differ from, and is not a change."""
    return [change for mode in sorted(set(a) & set(b)) for hardware in sorted(set(a[mode]) & set(b[mode]))
            for change in _diff(a[mode][hardware], b[mode][hardware], f"{mode}.{hardware}")]


def _workload(record: dict[str, Any]) -> dict[str, Any]:
    """The record's workload; a `plan --json` file has none but its name (the result's ``workload``)."""
    return record["workload"] or {"name": record["result"].get("workload")}


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
            workload=_diff(_workload(a), _workload(b)),
            objective=None if a["result"].get("objective") == b["result"].get("objective")
            else FieldChangeOut(field="objective", a=a["result"].get("objective"), b=b["result"].get("objective")),
            catalog_version=None if a["catalog_version"] == b["catalog_version"]
            else VersionChangeOut(a=a["catalog_version"], b=b["catalog_version"]),
            prices=_price_changes(a["prices"], b["prices"]),
            top_plan=_diff(ta.model_dump(mode="json") if ta else {}, tb.model_dump(mode="json") if tb else {})))
