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

    .venv/bin/python bench/api_load.py [--clients 8] [--seconds 10] [--subprocess]

By default the server (uvicorn in a thread), the clients and the /healthz prober share one Python process, so
the prober's figure includes the wait for that process's GIL behind the client threads, not the service's alone.
``--subprocess`` runs the server as ``hwplan serve`` in its own process and the prober in another (the
clients stay in this one): what a separate monitoring probe sees of the service under that load.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from healthz_probe import probe  # bench/ is the script's directory

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


def _ready(url: str) -> bool:
    for _ in range(600):
        try:
            if httpx.get(url + "/readyz", timeout=30).status_code == 200:
                return True
        except httpx.TransportError:
            time.sleep(0.05)
    return False


def start_server(catalog: Path) -> tuple[uvicorn.Server, str]:
    port = free_port()
    config = uvicorn.Config(create_app(Settings(catalog_dir=catalog, solver_time_limit_s=5.0)),
                            host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    if not _ready(url):
        raise RuntimeError("server did not start")
    return server, url


@contextmanager
def server_process(catalog: Path) -> Iterator[str]:
    """``hwplan serve`` in its own process (the in-thread server's settings), its URL while it runs."""
    port = free_port()
    env = {**os.environ, "HWPLAN_SOLVER_TIME_LIMIT_S": "5"}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--catalog", str(catalog)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        if not _ready(url):
            raise RuntimeError("server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def drive(url: str, clients: int, seconds: float, request: Any,
          health: list[float] | None = None, probe_process: bool = False) -> tuple[list[float], int]:
    """``clients`` threads, each with its own connection, calling ``request(client, i)`` until time;
    with ``health``, one more thread (``probe_process``: a process of its own) probes GET /healthz every 50 ms
    meanwhile and appends its latencies."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = itertools.count()
    stop, until = time.perf_counter() + seconds, time.time() + seconds

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
    probe_run = None
    if health is not None and probe_process:
        probe_run = subprocess.Popen([sys.executable, str(Path(__file__).with_name("healthz_probe.py")), url,
                                      str(until)], stdout=subprocess.PIPE, text=True)
    elif health is not None:
        threads.append(threading.Thread(target=probe, args=(url, until, health.append)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if probe_run is not None and health is not None:
        out, _ = probe_run.communicate(timeout=seconds + 60)
        health.extend(float(line) for line in out.split())
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
    parser.add_argument("--subprocess", action="store_true",
                        help="the server (hwplan serve) and the /healthz prober each in a process of its own")
    args = parser.parse_args()
    # the service keeps its capacity answers on disk (hardware_catalog.caching.answers_cache): those of an
    # earlier run of this script would make "cold" questions old ones
    from hardware_catalog.caching import answers_cache
    from hardware_catalog.caching.cache_store import cache_dir

    stale = list(answers_cache.entries(cache_dir()))
    for path in stale:
        path.unlink(missing_ok=True)
    print(f"capacity answers saved by earlier runs: {len(stale)} files removed")
    with tempfile.TemporaryDirectory() as tmp:
        if args.subprocess:
            with server_process(Path(tmp) / "catalog") as url:
                print(f"{args.clients} clients, {args.seconds:g} s each, server {url} (hwplan serve in its own "
                      "process; /healthz probed from another)")
                run(url, args, probe_process=True)
            return
        server, url = start_server(Path(tmp) / "catalog")
        print(f"{args.clients} clients, {args.seconds:g} s each, server {url}")
        run(url, args)
        server.should_exit = True


def run(url: str, args: argparse.Namespace, probe_process: bool = False) -> None:
    """Every scenario against the server at ``url``."""
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
                                  health if name.startswith("POST") else None, probe_process)
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


if __name__ == "__main__":
    main()
