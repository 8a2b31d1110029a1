"""``hwplan estimate``: one configuration's memory, latency, throughput and cost."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.app import CatalogOpt, JsonOpt, OverlayOpt, PricesOpt, ServerOpt, app, load, print_doc

if TYPE_CHECKING:
    from planner.economics.pricing import PriceBook

__all__ = ["SCENARIOS", "estimate_cmd"]

# planner.model.estimate.Scenario's values, named here so `hwplan --help` need not import numpy
# (tests/test_cli_usage.py checks the two agree)
SCENARIOS = ("static_batch", "max_throughput", "server")
PRICING = ("on_demand", "reserved_1y", "reserved_3y", "spot", "capacity_block", "owned")


@app.command("estimate")
def estimate_cmd(
    model: Annotated[str, typer.Option(help="Model id (hwplan catalog list models).")],
    hardware: Annotated[str, typer.Option(help="Hardware id (hwplan catalog list hardware).")],
    chips: Annotated[int | None, typer.Option(help="Total chips (default tp x pp).")] = None,
    tp: Annotated[int | None, typer.Option(help="Tensor-parallel degree.")] = None,
    pp: Annotated[int, typer.Option(help="Pipeline-parallel degree.")] = 1,
    ep: Annotated[int, typer.Option(help="Expert-parallel ranks: 1 (none) or tp, experts over the tp chips with "
                                         "data-parallel attention (a plan's 'tp8 ep8 dp-attn8').")] = 1,
    precision: Annotated[str | None, typer.Option(help="Weight precision (default bf16/fp16).")] = None,
    kv_precision: Annotated[str | None, typer.Option(help="KV-cache precision.")] = None,
    runtime: Annotated[str | None, typer.Option(help="Runtime id (default: the hardware's).")] = None,
    scenario: Annotated[str, typer.Option(help=f"Measurement scenario: {' | '.join(SCENARIOS)}.")] = SCENARIOS[0],
    input_tokens: Annotated[int, typer.Option(help="Prompt tokens per request.")] = 512,
    output_tokens: Annotated[int, typer.Option(help="Generated tokens per request.")] = 128,
    input_p95: Annotated[float | None, typer.Option(
        help="server: the prompts' 95th percentile (lognormal lengths, as a workload's mean and p95; "
             "default: every prompt at the mean).")] = None,
    output_p95: Annotated[float | None, typer.Option(
        help="server: the outputs' 95th percentile (as --input-p95).")] = None,
    batch: Annotated[int | None, typer.Option(help="static_batch: batch; others: concurrency cap.")] = None,
    request_rate: Annotated[float | None, typer.Option(help="server: requests/s offered.")] = None,
    pricing: Annotated[str, typer.Option(help=" | ".join(PRICING))] = "on_demand",
    market: Annotated[str, typer.Option(help="hyperscaler | neocloud | marketplace")] = "hyperscaler",
    prices: PricesOpt = None,
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
) -> None:
    """Predict memory, latency, throughput and cost of one configuration."""
    from cli.output import render
    from cli.output.console import Console
    from hardware_catalog.outputs import EstimateOut, estimate_out
    from planner.errors import InputError

    for name, value, allowed in (("scenario", scenario, SCENARIOS), ("pricing", pricing, PRICING)):
        if value not in allowed:
            raise InputError(f"unknown {name} {value!r} (one of {', '.join(allowed)})", field=name)
    from hardware_catalog.inputs.options import EstimateOptions, check_options

    check_options(EstimateOptions, {  # the bounds POST /v1/estimate holds a body to (pricing is checked above)
        "model": model, "hardware": hardware, "chips": chips, "tp": tp, "pp": pp, "ep": ep, "precision": precision,
        "kv_precision": kv_precision, "runtime": runtime, "scenario": scenario, "input_tokens": input_tokens,
        "output_tokens": output_tokens, "input_p95": input_p95, "output_p95": output_p95, "batch": batch,
        "request_rate": request_rate})
    if server:
        from cli.commands.serve_cmd import call_server
        from hardware_catalog.prices import raw_sheet

        body = {"model": model, "hardware": hardware, "chips": chips, "tp": tp, "pp": pp, "ep": ep,
                "precision": precision, "kv_precision": kv_precision, "runtime": runtime,
                "scenario": scenario, "input_tokens": input_tokens, "output_tokens": output_tokens,
                "input_p95": input_p95, "output_p95": output_p95, "batch": batch, "request_rate": request_rate,
                "pricing": {"mode": pricing, "market": market},
                "prices": raw_sheet(prices) if prices else None}
        out = EstimateOut.model_validate(
            call_server(server, "/v1/estimate", {k: v for k, v in body.items() if v is not None}))
    else:
        from planner.economics.rates import Pricing
        from planner.model.estimate import Scenario, estimate, resolve

        cat = load(catalog, add)
        config = resolve(cat, model=model, hardware=hardware, chips=chips, tp=tp, pp=pp,
                         precision=precision, kv_precision=kv_precision, runtime=runtime, ep=ep)
        kind = Scenario(scenario)
        if kind is Scenario.STATIC_BATCH and batch is None:
            batch = 1
        out = estimate_out(estimate(cat, config, scenario=kind, input_tokens=input_tokens,
                                    output_tokens=output_tokens, batch=batch, request_rate=request_rate,
                                    input_p95=input_p95, output_p95=output_p95,
                                    pricing=Pricing(mode=pricing, market=market,
                                                    sheet=_sheet(prices)), measured_speed=True))
    if as_json:
        print_doc(out)
    else:
        render.estimate_table(Console(), out)


def _sheet(prices: Path | None) -> PriceBook | None:
    """The --prices sheet (its parser, YAML and pydantic models, only when there is one)."""
    if prices is None:
        return None
    from hardware_catalog.prices import load_price_sheet

    return load_price_sheet(prices)
