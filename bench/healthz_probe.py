"""GET /healthz every 50 ms until a time, each latency reported: ``bench/api_load.py``'s probe, run in its thread
or, as a script, in a process of its own (``--subprocess``: light on purpose, so it starts probing at once).

    python bench/healthz_probe.py URL UNTIL    # UNTIL: time.time() at which to stop; prints one latency (s) a line
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import httpx


def probe(url: str, until: float, seen: Callable[[float], Any]) -> None:
    """GET /healthz every 50 ms until ``until`` (time.time(): the same clock in another process), each latency
    to ``seen``."""
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.time() < until:
            t0 = time.perf_counter()
            client.get("/healthz")
            seen(time.perf_counter() - t0)
            time.sleep(0.05)


if __name__ == "__main__":
    probe(sys.argv[1], float(sys.argv[2]), lambda s: print(s, flush=True))
