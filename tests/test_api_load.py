"""Liveness under load: /healthz answers (every probe, well within its timeout) while 16 heavy plan requests run
at once against a real uvicorn server on 127.0.0.1; its p99 is printed, and measured by bench/healthz_probe.py
(about 60-80 ms on an idle 2-core machine; a timing target is a benchmark's, not a test's).
Two planning workers, as many as this project's test machine has cores: planning threads share
the GIL with the event loop, so more workers than cores slow /healthz (4 workers on 2 cores:
p99 79 ms in one run, against 61 ms with 2)."""

from __future__ import annotations

import shutil
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api import Settings, create_app
from hardware_catalog import default_catalog_dir

HEAVY: dict[str, Any] = {  # every model and chip of the catalog
    "name": "heavy", "traffic": {"requests_per_s": 40, "input_tokens": {"mean": 2000, "p95": 6000},
                                 "output_tokens": {"mean": 300}},
    "slo": {"ttft_ms": {"p99": 1500}, "tpot_ms": {"p99": 60}},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_healthz_p99_while_16_heavy_plans_run(tmp_path: Path) -> None:
    directory = tmp_path / "catalog"
    shutil.copytree(default_catalog_dir(), directory)
    app = create_app(Settings(catalog_dir=directory, plan_cache_size=0, plan_workers=2, plan_queue=16))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    runner = threading.Thread(target=server.run, daemon=True)
    runner.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    statuses: list[int] = []

    def heavy() -> None:
        with httpx.Client(base_url=base, timeout=120) as c:
            statuses.append(c.post("/v1/plans", json=HEAVY, params={"time_limit_s": 8}).status_code)

    try:
        plans = [threading.Thread(target=heavy) for _ in range(16)]
        for t in plans:
            t.start()
        latencies: list[float] = []
        with httpx.Client(base_url=base, timeout=10) as c:
            time.sleep(0.5)  # the plans are running
            while any(t.is_alive() for t in plans) and len(latencies) < 400:
                t0 = time.perf_counter()
                assert c.get("/healthz").status_code == 200
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.02)
        for t in plans:
            t.join(180)
    finally:
        server.should_exit = True
        runner.join(10)
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) >= 2 else latencies[0]
    print(f"/healthz during 16 heavy plans: {len(latencies)} probes, p50 {statistics.median(latencies)*1e3:.1f} ms, "
          f"p99 {p99*1e3:.1f} ms, max {max(latencies)*1e3:.1f} ms; plan statuses {sorted(statuses)}")
    assert sorted(set(statuses)) == [200] and len(statuses) == 16
    assert len(latencies) >= 20
    # liveness, not a timing target (tests hold none: a shared 2-core machine read p99 0.23-0.26 s here in runs where
    # the other test worker was busy, 0.06 s alone): every probe answered, none near the probes' 10 s timeout;
    # the figure is printed, and bench/healthz_probe.py measures it
    assert max(latencies) < 2.0, p99


if __name__ == "__main__":
    pytest.main([__file__, "-s"])
