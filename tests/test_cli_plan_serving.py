"""The text plan says what the JSON says about serving shape: each pool's role and why the plan won.

Basis: the plan document (``--json``) of the same run; a disaggregated plan printed as two
unlabelled replica groups reads like a heterogeneous aggregated mix, which it is not.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "disagg-long-prompts.yaml"


def test_text_plan_names_each_pool_and_the_reason() -> None:
    runner = CliRunner()
    doc = json.loads(runner.invoke(app, ["plan", str(EXAMPLE), "--json"]).stdout)
    two_pool = [p for p in doc["plans"] if {d["role"] for d in p["deployments"]} == {"prefill", "decode"}]
    assert two_pool, "the example's plans hold no two-pool plan"
    text = runner.invoke(app, ["plan", str(EXAMPLE)], env={"COLUMNS": "80"}).stdout
    first = two_pool[0]
    pools = [f"{d['role']} {d['replicas']} x {d['chips_per_replica']} {d['hardware']}" for d in first["deployments"]]
    flat = " ".join(text.split())
    for pool in pools:
        assert pool in flat, pool
    assert first["why"] and " ".join(first["why"].split())[:40] in flat
