"""Every chip the text shows a price for says when that price rests only on offers flagged weak (uncertain,
estimate, lower bound, inferred), as the JSON's per-plan ``cost.warnings`` do: the text had warned for plan 1's
chips only, so code-assistant's plan 5 on MI355X (one offer, flagged uncertain) showed its price bare.

Basis: the JSON document's own warnings (``price_outputs.stale_warnings``, per plan) against the text lines."""

from __future__ import annotations

from pathlib import Path

from cli.output.cost_render import cost_lines
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.outputs import plan_result_out
from planner.domain import Catalog
from planner.search.planning import plan

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "code-assistant.yaml"


def test_each_weakly_priced_chip_is_flagged_in_the_text(catalog: Catalog) -> None:
    out = plan_result_out(plan(load_workload(EXAMPLE), catalog, top=5, time_limit_s=20))
    weak = {w.split(":")[0] for p in out.plans for w in p.cost.warnings if "flagged" in w}
    assert len(weak) >= 2, weak  # plan 1's chip and another plan's: what the test is about
    text = " ".join(" ".join(cost_lines(out)).split())
    for chip in weak:
        line = text.split(f"price {chip}: ")[1].split("price ")[0]
        assert "every offer is flagged" in line, (chip, line)
    for p in out.plans:
        for s in p.cost.sources:
            if s.hardware not in weak:
                assert "every offer is flagged" not in text.split(f"price {s.hardware}: ")[1].split("price ")[0]


def test_one_providers_two_instance_sizes_read_as_two_offers(catalog: Catalog) -> None:
    """A new user read Trainium1's price as 'aws $1.34 2026-01-21; aws $1.34 2026-01-21', an offer twice: they are
    trn1.2xlarge and trn1.32xlarge at one per-chip price (prices/trainium1.yaml). Each offer names its instance."""
    out = plan_result_out(plan(load_workload(EXAMPLE.with_name("support-chatbot.yaml")), catalog, top=5))
    text = " ".join(" ".join(cost_lines(out)).split())
    assert "(trn1.2xlarge)" in text and "(trn1.32xlarge)" in text
