"""Every price line of the text plan says when an offer behind it is older than 12 months.

Basis: the plan document (``--json``) of the same run marks each priced chip's ``stale``
(planner.economics.pricing.stale_offers against today); the text printed the offer's date but
warned only for the top plan, so a two-year-old price of a lower-ranked plan read as current.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app

# its plans mix stale and fresh prices (TPU v5e's offer is older than 12 months)
EXAMPLE = Path(__file__).resolve().parent / "data" / "tpu_jetstream_task.yaml"
MARK = "an offer is older than 12 months or undated: confirm it"


def test_each_stale_price_line_says_so() -> None:
    runner = CliRunner()
    doc = json.loads(runner.invoke(app, ["plan", str(EXAMPLE), "--json"]).stdout)
    stale = {s["hardware"]: s["stale"] for p in doc["plans"] for s in p["cost"]["sources"]}
    assert any(stale.values()) and not all(stale.values()), "the example no longer mixes stale and fresh prices"
    text = runner.invoke(app, ["plan", str(EXAMPLE)], env={"COLUMNS": "400"}).stdout
    lines = {line.split(":")[0].removeprefix("price "): line for line in text.splitlines() if line.startswith("price ")}
    assert set(lines) == set(stale)
    for hardware, is_stale in stale.items():
        assert (MARK in lines[hardware]) is is_stale, lines[hardware]
