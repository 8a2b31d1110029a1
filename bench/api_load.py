"""Load test of the REST service on loopback: N concurrent clients for a fixed time per endpoint.

Starts uvicorn in-process (a thread, 127.0.0.1, a free port, a temporary catalog copied from the
shipped one), then drives POST /v1/plans (a constrained example workload) and
GET /v1/catalog/hardware. Plans are run three times: ``cached`` repeats one workload (served from the
per-catalog-version plan cache after the first answer); ``edited`` gives every request a distinct
request rate, so each one runs the planner, which takes what one replica carries from the capacity
answers of earlier requests (``planner.search.shapes.answers``: a rate does not change them); ``cold`` gives
every request a distinct output length, a question never asked, so the queueing model runs for every
shape the search reaches. Prints requests/s and p50/p99 latency per scenario, for the uncached ones
where the server's time goes (planner search vs. the rest, from /metrics), and for every plan
scenario the latency of GET /healthz probed every 50 ms while it runs.

    .venv/bin/python bench/api_load.py [--clients 8] [--seconds 10]
"""

from __future__ import annotations

import argparse
import itertools
import re
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn

from api import Settings, create_app

WORKLOAD: dict[str, Any] = {
    "name": "bench-chat",
    "traffic": {"requests_per_s": 5, "input_tokens": {"mean": 512}, "output_tokens": {"mean": 128}},
    "slo": {"ttft_ms": {"p99": 2000}},
    "constraints": {"models": ["llama-3.1-8b"], "hardware": ["h100-sxm", "l40s"], "precisions": ["bf16"],
                    "runtimes": ["vllm"]},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(catalog: Path) -> tuple[uvicorn.Server, str]:
    port = free_port()
    config = uvicorn.Config(create_app(Settings(catalog_dir=catalog, solver_time_limit_s=5.0)),
                            host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(url + "/readyz", timeout=30).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def drive(url: str, clients: int, seconds: float, request: Any,
          health: list[float] | None = None) -> tuple[list[float], int]:
    """``clients`` threads, each with its own connection, calling ``request(client, i)`` until time;
    with ``health``, one more thread probes GET /healthz every 50 ms meanwhile and appends its latencies."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = itertools.count()
    stop = time.perf_counter() + seconds

    def prober() -> None:
        assert health is not None
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                client.get("/healthz")
                health.append(time.perf_counter() - t0)
                time.sleep(0.05)

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                ok = request(client, next(counter)).status_code == 200
                with lock:
                    latencies.append(time.perf_counter() - t0)
                    errors += not ok

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    if health is not None:
        threads.append(threading.Thread(target=prober))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors


def metric(text: str, name: str) -> float:
    return sum(float(m) for m in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def report(name: str, latencies: list[float], errors: int, seconds: float) -> None:
    lat = np.array(latencies) * 1e3
    print(f"{name:<28} {len(lat) / seconds:8.1f} req/s   p50 {np.percentile(lat, 50):7.1f} ms   "
          f"p99 {np.percentile(lat, 99):7.1f} ms   n={len(lat)} errors={errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    # the service keeps its capacity answers on disk (hardware_catalog.caching.answers_cache): those of an
    # earlier run of this script would make "cold" questions old ones
    from hardware_catalog.caching import answers_cache
    from hardware_catalog.caching.cache_store import cache_dir

    removed = sum(1 for path in answers_cache.entries(cache_dir()) if path.unlink(missing_ok=True) is None)
    print(f"capacity answers saved by earlier runs: {removed} files removed")
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_server(Path(tmp) / "catalog")
        print(f"{args.clients} clients, {args.seconds:g} s each, server {url}")

        def edited(c: httpx.Client, i: int) -> httpx.Response:
            w = {**WORKLOAD, "traffic": {**WORKLOAD["traffic"], "requests_per_s": 1 + i * 0.37}}
            return c.post("/v1/plans", json=w)

        def cold(c: httpx.Client, i: int) -> httpx.Response:
            w = {**WORKLOAD, "traffic": {**WORKLOAD["traffic"], "output_tokens": {"mean": 128 + i}}}
            return c.post("/v1/plans", json=w)

        scenarios = [
            ("GET /v1/catalog/hardware", lambda c, i: c.get("/v1/catalog/hardware")),
            ("POST /v1/plans (cached)", lambda c, i: c.post("/v1/plans", json=WORKLOAD)),
            ("POST /v1/plans (edited)", edited),
            ("POST /v1/plans (cold)", cold),
        ]
        for name, request in scenarios:
            before = httpx.get(url + "/metrics").text
            health: list[float] = []
            latencies, errors = drive(url, args.clients, args.seconds, request,
                                      health if name.startswith("POST") else None)
            report(name, latencies, errors, args.seconds)
            if health:
                h = np.array(health) * 1e3
                print(f"  GET /healthz meanwhile (every 50 ms): p50 {np.percentile(h, 50):.1f} ms, "
                      f"p99 {np.percentile(h, 99):.1f} ms, max {h.max():.1f} ms over {len(h)} probes")
            after = httpx.get(url + "/metrics").text
            if not name.endswith("(cached)") and name.startswith("POST"):
                search = metric(after, "hwplan_plan_search_seconds_sum") - \
                    metric(before, "hwplan_plan_search_seconds_sum")
                n = metric(after, "hwplan_plan_search_seconds_count") - \
                    metric(before, "hwplan_plan_search_seconds_count")
                wall = float(np.sum(latencies))
                print(f"  where the time goes: planner search {search / max(n, 1) * 1e3:.0f} ms per plan "
                      f"(over {n:.0f} plans; {100 * search / max(wall, 1e-9):.0f}% of client-observed "
                      f"latency); the rest is queueing for the 2 cores, HTTP and JSON")
        server.should_exit = True


if __name__ == "__main__":
    main()
