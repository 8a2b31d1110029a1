"""Turn domain results into JSON-ready dicts (display units: ms, GB, TFLOPS) and rich tables."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from cli.output.tables import Column, print_table
from hardware_catalog.numbers import rounded
from planner.errors import InputError
from planner.text import plain

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hardware_catalog.outputs import EstimateOut, MeasuredOut
    from planner.domain import Catalog

__all__ = ["catalog_entry", "catalog_rows", "estimate_table", "rows_table", "slowed_label"]

GB = 1e9


def _figure(value: object) -> str:
    """A figure of the estimate table: a number to five significant digits, whole from 1,000 up with separators
    (``planner.text.plain``: a batch of 1, not 1.0; 70,794 ms, not 70794.0); anything else as it is."""
    return plain(float(value), ".5g") if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def estimate_table(console: Console, out: EstimateOut) -> None:
    d = out.model_dump(exclude_unset=True)
    ep = f", ep={d['ep']} with data-parallel attention" if d.get("ep", 1) > 1 else ""
    title = (f"{d['model']} on {d['chips']} x {d['hardware']} (tp={d['tp']}, pp={d['pp']}{ep}), "
             f"{d['precision']} weights / {d['kv_precision']} KV, {d['runtime']}, {d['scenario']}")
    table = Table(title=title, show_header=False)
    table.add_column("quantity", style="bold")
    table.add_column("value")
    if not d["fits"]:
        table.add_row("fits", f"[red]no[/red]: {d['reason']}")
    m = d["memory"]
    table.add_row("memory per chip", f"{m['total_gb']} / {m['capacity_gb']} GB (weights {m['weights_gb']}, "
                  f"KV {m['kv_cache_gb']}, activations {m['activations_gb']}, overhead {m['overhead_gb']})")
    table.add_row("batch (max that fits)", f"{_figure(d['batch'])} ({d['max_batch']})")
    if d.get("concurrency_cap_source"):
        cap = "none" if d.get("concurrency_cap") is None else f"{d['concurrency_cap']:,}"
        table.add_row("engine cap on sequences", f"{cap} ({d['concurrency_cap_source']})")
    for key, label in (*FIGURES[:6], ("requests_per_s", "requests/s"),
                       ("utilization", "utilization"), FIGURES[6], ("bound", "bound by"),
                       ("cost_per_hour", f"$/hour ({d['pricing']})"),
                       ("cost_per_million_output_tokens", "$ per 1M output tokens")):
        if key in d:
            # a configuration that does not fit does not run: its figures are what it would do if it did
            hypothetical = not d["fits"] and key not in ("cost_per_hour", "bound") and d[key] is not None
            table.add_row(label, "—" if d[key] is None else _figure(d[key]) + (" (if it fit)" if hypothetical else ""))
    if d.get("cost_note"):  # why there is no cost (a filter, no instance that holds the replica, no offer)
        table.add_row("no cost", d["cost_note"])
    if d.get("serving_iteration_ms") is not None:
        interval = d.get("serving_iteration_interval_ms")
        span = "" if not interval else (f"only {interval[0]}" if interval[0] == interval[1]
                                        else f"{interval[0]}-{interval[1]}")
        admitted = f"; the records under load admit {span} ms" if span else ""
        table.add_row("serving iteration", f"{d['serving_iteration_ms']} ms per iteration "
                      f"({d['serving_iteration_source']}{admitted})")
    eff = d["efficiency"]
    table.add_row("efficiency", f"compute {eff['compute']}, memory {eff['memory']}, comm "
                  f"{eff['communication']} ({'calibrated' if d['calibrated'] else 'uncalibrated'}: "
                  f"{eff['source']})")
    for m in d.get("measured", []):
        table.add_row("measured", f"[yellow]{m['note']}[/yellow]")
    for f in d.get("order", []):
        table.add_row("chip order", f"[yellow]{f['note']}[/yellow]")
    if out.accuracy is not None:
        table.add_row("accuracy", out.accuracy.note)
    if out.at_measured_speed is not None:
        table.add_row("at the measured speed", f"[yellow]{_at_measured_speed(out)}[/yellow]")
    console.print(table)


# the estimate table's latency rows, and the figures its "at the measured speed" row repeats (AtSpeedOut's)
FIGURES = (("ttft_ms", "TTFT ms"), ("tpot_ms", "TPOT ms"), ("e2e_ms", "end-to-end ms"),
           ("ttft_p99_ms", "TTFT p99 ms"), ("tpot_p99_ms", "TPOT p99 ms"), ("output_tokens_per_s", "output tokens/s"),
           ("capacity_requests_per_s", "capacity requests/s"),
           ("cost_per_million_output_tokens", "$ per 1M output tokens"))


def slowed_label(entries: Iterable[MeasuredOut]) -> str:
    """The measured entries that slow a what-if, as its lines name them: 'tpu-v5e on jetstream at 0.41x'."""
    return "; ".join(f"{m.model or ', '.join(m.hardware)} on {m.runtime} at {m.median or 0:.2f}x" for m in entries)


def _at_measured_speed(out: EstimateOut) -> str:
    """The estimate again at the speed the measured runs reached (``EstimateOut.at_measured_speed``)."""
    assert out.at_measured_speed is not None
    a = out.at_measured_speed.model_dump(exclude_unset=True)
    figures = [f"{label} {a[key]}" for key, label in FIGURES if a.get(key) is not None]
    unfit = "" if a["fits"] else f"; does not run: {a['reason']}"
    return f"{slowed_label(m for m in out.measured if m.slows)}: {', '.join(figures)}{unfit}"


def _plain(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _plain(asdict(obj))
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, float):
        return rounded(obj, 6)
    return obj


def _selected_prices(catalog: Catalog, hardware: str) -> dict[str, float]:
    """The hyperscaler price ``select_price`` picks per rented mode (``hwplan prices`` has the offers)."""
    from planner.economics.pricing import OFFER_MODES, PriceQuote, PricingSpec, select_price

    quotes = {mode: select_price(catalog.prices, hardware, PricingSpec(mode=mode)) for mode in OFFER_MODES}
    return {mode: round(q.usd_per_chip_hour, 4) for mode, q in quotes.items() if isinstance(q, PriceQuote)}


def catalog_rows(catalog: Catalog, kind: str) -> list[dict[str, Any]]:
    if kind == "hardware":
        return [{
            "id": h.id, "name": h.name, "vendor": h.vendor, "family": h.family,
            "memory_gb": rounded(h.memory_bytes / GB),
            "memory_bandwidth_gb_s": rounded(h.memory_bandwidth_bytes_per_s / GB),
            "peak_tflops": {p: rounded(f / 1e12) for p, f in h.peak_flops_per_s.items()},
            "chips_per_node": h.chips_per_node,
            "price_per_chip_hour": _selected_prices(catalog, h.id),
            "runtimes": list(h.runtimes), "default_runtime": h.default_runtime,
            "calibrated_runtimes": sorted(r for (hid, r) in catalog.calibration.pairs if hid == h.id),
        } for h in catalog.hardware.values()]
    if kind == "models":
        return [{
            "id": m.id, "name": m.name, "family": m.family, "params_b": rounded(m.params / 1e9),
            "active_params_b": rounded(m.active_params / 1e9), "layers": m.layers,
            "kv_heads": m.kv_heads, "context_length": m.context_length,
            "quality": dict(m.quality), "aliases": list(m.aliases),
        } for m in catalog.models.values()]
    if kind == "runtimes":
        return [{
            "id": r.id, "name": r.name, "families": list(r.families),
            "features": dict(r.features), "weight_precisions": list(r.weight_precisions),
            "kv_precisions": list(r.kv_precisions),
            **({"based_on": r.based_on} if r.based_on else {}),
            **({"explicit_only": r.explicit_only} if r.explicit_only else {}),  # why default plans leave it out
        } for r in catalog.runtimes.values()]
    return [{
        "id": p.id, "bytes_per_weight": p.bytes_per_weight, "bytes_per_kv": p.bytes_per_kv,
        "compute_as": list(p.compute_as), "description": p.description,
    } for p in catalog.precisions.values()]


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


# (key, header, optional) per kind; the caption explains every abbreviated header once
LIST_COLUMNS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "hardware": (("id", "id", False), ("family", "family", True), ("memory_gb", "GB", False),
                 ("memory_bandwidth_gb_s", "GB/s", False), ("chips_per_node", "chips/node", True),
                 ("default_runtime", "runtime", True), ("on_demand", "$/chip-h", False)),
    "models": (("id", "id", False), ("params_b", "params B", False), ("active_params_b", "active B", True),
               ("layers", "layers", True), ("kv_heads", "KV heads", True), ("context_length", "context", False)),
    "runtimes": (("id", "id", False), ("name", "name", True), ("families", "hardware families", False)),
    "precisions": (("id", "id", False), ("bytes_per_weight", "B/weight", False), ("bytes_per_kv", "B/KV", False),
                   ("compute_as", "computes as", True)),
}
CAPTIONS = {
    "hardware": "GB: memory per chip; GB/s: memory bandwidth per chip; chips/node: chips in one "
                "interconnect domain; runtime: default serving runtime; $/chip-h: on-demand price per chip-hour "
                "(median of the hyperscaler offers)",
    "models": "params B / active B: total / active-per-token parameters (billions); KV heads: key-value "
              "heads (grouped-query attention); context: longest context (tokens)",
    "runtimes": "hardware families: the chip families the runtime serves",
    "precisions": "B/weight, B/KV: bytes per weight and per KV-cache element; computes as: the "
                  "arithmetic used where the chip has it",
}


def rows_table(console: Console, kind: str, rows: list[dict[str, Any]], *, wide: bool = False) -> None:
    spec = LIST_COLUMNS[kind]
    cells = []
    for row in rows:
        values = {**row, "on_demand": row.get("price_per_chip_hour", {}).get("on_demand")}
        cells.append([_cell(values[key]) for key, _, _ in spec])
    text = ("id", "family", "name", "default_runtime", "families", "compute_as")
    columns = [Column(header, optional=optional, wrap=key in ("name", "families", "compute_as"),
                      drop_first=1 if key == "family" else 0,  # the id already says the family
                      justify="left" if key in text else "right")
               for key, header, optional in spec]
    print_table(console, f"{kind} ({len(rows)})", columns, cells, caption=CAPTIONS[kind], wide=wide)


def catalog_entry(catalog: Catalog, entry_id: str) -> dict[str, Any]:
    for kind, table in (("hardware", catalog.hardware), ("model", catalog.models),
                        ("runtime", catalog.runtimes), ("precision", catalog.precisions)):
        if entry_id in table:
            return {"kind": kind, **_plain(table[entry_id])}
    if (model := catalog.aliased(entry_id)) is not None:
        return {"kind": "model", **_plain(model)}
    raise InputError(f"no hardware, model, runtime or precision has id {entry_id!r}", field="id")
