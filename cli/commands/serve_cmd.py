"""``hwplan serve``: the REST service (api/), and the HTTP client behind ``--server URL``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.app import ServerOpt, app

__all__ = ["ServerOpt", "call_server", "serve_cmd"]

@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    catalog: Annotated[Path | None, typer.Option(
        "--catalog", help="Writable catalog directory (initialised from the shipped catalog if "
                          "missing or empty; default ~/.hwplan/catalog).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Serve plans, estimates, validation and the catalog over HTTP (OpenAPI at /docs).

    Catalog writes need HWPLAN_API_KEY set here and `Authorization: Bearer <key>` on requests.
    """
    import uvicorn

    if catalog is not None:  # workers are separate processes: pass settings by environment
        os.environ["HWPLAN_CATALOG_DIR"] = str(catalog.resolve())
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers)


def call_server(server: str, path: str, body: Any, *, params: dict[str, Any] | None = None,
                timeout_s: float = 60.0) -> dict[str, Any]:
    """POST JSON to the service; a problem+json answer becomes a PlannerError (exit code 2)."""
    import httpx

    from planner.errors import PlannerError

    url = server.rstrip("/") + path
    try:
        response = httpx.post(url, json=body, params=params, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise PlannerError(f"cannot reach {url}: {exc}") from exc
    if response.status_code >= 400:
        try:
            problem = response.json()
            message = f"{problem.get('title', 'error')}: {problem.get('detail', '')}"
        except ValueError:
            message = response.text[:200]
        raise PlannerError(f"server answered {response.status_code}: {message}")
    data: dict[str, Any] = response.json()
    return data
