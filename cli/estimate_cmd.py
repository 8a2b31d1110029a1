"""``hwplan estimate``: one configuration's memory, latency, throughput and cost."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from cli import render
from cli.app import CatalogOpt, JsonOpt, OverlayOpt, app, load, print_json
from cli.serve_cmd import ServerOpt, call_server
from planner.model.estimate import Scenario, estimate, resolve
from planner.report import estimate_dict

__all__ = ["estimate_cmd"]


@app.command("estimate")
def estimate_cmd(
    model: Annotated[str, typer.Option(help="Model id (hwplan catalog list models).")],
    hardware: Annotated[str, typer.Option(help="Hardware id (hwplan catalog list hardware).")],
    chips: Annotated[int | None, typer.Option(help="Total chips (default tp x pp).")] = None,
    tp: Annotated[int | None, typer.Option(help="Tensor-parallel degree.")] = None,
    pp: Annotated[int, typer.Option(help="Pipeline-parallel degree.")] = 1,
    precision: Annotated[str | None, typer.Option(help="Weight precision (default bf16/fp16).")] = None,
    kv_precision: Annotated[str | None, typer.Option(help="KV-cache precision.")] = None,
    runtime: Annotated[str | None, typer.Option(help="Runtime id (default: the hardware's).")] = None,
    scenario: Annotated[Scenario, typer.Option(help="Measurement scenario.")] = Scenario.STATIC_BATCH,
    input_tokens: Annotated[int, typer.Option(help="Prompt tokens per request.")] = 512,
    output_tokens: Annotated[int, typer.Option(help="Generated tokens per request.")] = 128,
    batch: Annotated[int | None, typer.Option(help="static_batch: batch; others: concurrency cap.")] = None,
    request_rate: Annotated[float | None, typer.Option(help="server: requests/s offered.")] = None,
    pricing: Annotated[str, typer.Option(help="on_demand|spot|reserved_1y|reserved_3y|owned")] = "on_demand",
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
) -> None:
    """Predict memory, latency, throughput and cost of one configuration."""
    if server:
        body = {"model": model, "hardware": hardware, "chips": chips, "tp": tp, "pp": pp,
                "precision": precision, "kv_precision": kv_precision, "runtime": runtime,
                "scenario": str(scenario), "input_tokens": input_tokens, "output_tokens": output_tokens,
                "batch": batch, "request_rate": request_rate, "pricing": pricing}
        data = call_server(server, "/v1/estimate", {k: v for k, v in body.items() if v is not None})
        if as_json:
            print_json(data)
        else:
            render.estimate_table(Console(), data)
        return
    cat = load(catalog, add)
    config = resolve(cat, model=model, hardware=hardware, chips=chips, tp=tp, pp=pp,
                     precision=precision, kv_precision=kv_precision, runtime=runtime)
    if scenario is Scenario.STATIC_BATCH and batch is None:
        batch = 1
    result = estimate(cat, config, scenario=scenario, input_tokens=input_tokens,
                      output_tokens=output_tokens, batch=batch, request_rate=request_rate,
                      pricing=pricing)
    data = estimate_dict(result)
    if as_json:
        print_json(data)
    else:
        render.estimate_table(Console(), data)


