"""What a plan's cost rests on, said where it could mislead (an auditor's recomputation, 2026-12-07).

* Chips priced one by one from offers that rent whole instances: a plan of one H100 was $7,687 a month at
  $10.53 per chip-hour, but every offer behind that price rents an 8-GPU instance (p5.48xlarge,
  ND96isr_H100_v5, a3-highgpu-8g, BM.GPU.H100.8): a buyer renting it alone pays 8 x $10.53 x 730 h =
  $61,498. The per-chip price stays (a plan's replicas share instances, docs/catalog.md); the plan now says
  what whole instances would cost.
* An owned plan's energy part (power at 100% load, the TCO rule) beside an energy line at 2% utilisation.
* A reserved term longer than the workload's horizon.

Basis: the offers' own instance sizes, the catalog's $/kWh and hand arithmetic.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from hardware_catalog.caching.cache import catalog_tables
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.outputs import plan_out
from planner.domain import Catalog
from planner.economics.breakdown import whole_instance_notes
from planner.economics.pricing import Offer, PriceQuote, PricingSpec
from planner.economics.rates import ChipRate, Pricing
from planner.search.planning import plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _rate(sizes: list[int | None], *, sheet: bool = False) -> ChipRate:
    offers = tuple(Offer(hardware="x", provider=f"p{i}", market="hyperscaler", mode="on_demand", usd_per_chip_hour=2.0,
                         region="us-east-1", as_of=date(2026, 11, 1), source="test", chips_per_instance=n,
                         instance=f"i{n}") for i, n in enumerate(sizes))
    quote = PriceQuote(hardware="x", mode="on_demand", market="hyperscaler", usd_per_chip_hour=2.0, offers=offers,
                       rule="test", from_sheet=sheet)
    return ChipRate(hardware="x", usd_per_chip_hour=2.0, mode="on_demand", quote=quote)


@pytest.mark.parametrize(("sizes", "used", "instances"), [([8, 8], 8, None), ([8, 8], 16, None), ([8, 16], 9, 2),
                                                          ([8], 1, 1), ([8, None], 1, None), ([1, 8], 1, None)])
def test_a_note_only_where_every_offer_rents_a_bigger_instance_than_the_plan_fills(
        sizes: list[int | None], used: int, instances: int | None) -> None:
    notes = whole_instance_notes([(_rate(sizes), used)])
    if instances is None:
        assert notes == ()
        return
    (note,) = notes
    whole = instances * 8
    assert f"{instances} whole instance(s) of 8 cost ${whole * 2.0 * 730:,.0f}/month" in note
    assert f"(+${(whole - used) * 2.0 * 730:,.0f})" in note


def test_deployments_of_one_chip_add_up_and_a_price_sheet_is_the_users_terms() -> None:
    rate = _rate([8])
    assert whole_instance_notes([(rate, 4), (rate, 4)]) == ()  # two 4-chip deployments fill one instance
    assert whole_instance_notes([(_rate([8], sheet=True), 1)]) == ()


def test_the_one_h100_plan_says_what_its_instance_costs(catalog: Catalog) -> None:
    """Basis: the price sheets' instance sizes. AWS rents one H100 (p5.4xlarge) at the per-GPU price of its eight
    (p5.48xlarge, $6.88): a one-H100 plan is rentable as priced, no whole-instance line (it said 1 whole instance of
    8 cost $61,494/month, +$53,808). An H200, which every hyperscaler rents by eight, gets the line."""
    w = load_workload(EXAMPLES / "disagg-loses.yaml")
    # on vLLM, whose Marlin kernels serve fp4 weights on an H100: Llama 3.1 70B on one chip (SGLang's NVFP4 needs
    # Blackwell, runtimes.yaml native_only, so the example's own plan 1 takes two), at half the example's rate
    # (its 6 requests/s take two H100s since the Marlin path prefills at the 16-bit rate: test_fp4_weight_only.py)
    w = replace(w, constraints=replace(w.constraints, runtimes=("vllm",)),
                traffic=replace(w.traffic, requests_per_s=3.0))
    best = plan(w, catalog, tables=catalog_tables(catalog), explain=False).plans[0]
    (d,) = best.deployments
    sizes = {o.chips_per_instance for o in best.cost.sources[0].offers}
    assert d.hardware == "h100-sxm" and d.chips_per_replica * d.replicas == 1 and 1 in sizes
    assert not any("whole instance" in x for x in plan_out(best).cost.warnings)
    assert best.cost.per_month == pytest.approx(best.cost.sources[0].usd_per_chip_hour * 730, rel=1e-6)
    from planner.economics.rates import ChipRate, chip_rate

    h200 = chip_rate(catalog, "h200", "on_demand")
    assert isinstance(h200, ChipRate) and h200.quote is not None
    assert {o.chips_per_instance for o in h200.quote.offers} == {8}
    (line,) = whole_instance_notes([(h200, 1)])
    assert f"1 whole instance(s) of 8 cost ${8 * h200.usd_per_chip_hour * 730:,.0f}/month" in line


def test_an_owned_plans_energy_report_prices_the_power_it_reports(catalog: Catalog) -> None:
    # the cost's energy part is power at 100% load (the owned TCO rule), the energy line kWh at the plan's
    # utilisation: one output said "energy $56" and "95 kWh/month" (an auditor: 95 kWh x $0.08 = $7.61).
    # Basis: the reported kWh x the catalog's $/kWh, by hand
    w = load_workload(EXAMPLES / "edge-assistant.yaml")
    best = plan(w, catalog, tables=catalog_tables(catalog), explain=False).plans[0]
    e = best.cost.energy
    assert e is not None and e.kwh_per_month is not None and e.utilisation < 0.5
    assert best.cost.parts is not None and best.cost.parts.energy > 0  # owned: power is a part of the cost
    usd_per_kwh = catalog.owned.facility["usd_per_kwh"].value  # type: ignore[union-attr]
    assert f"at {e.utilisation:.0%} the owned chips' power here costs ${e.kwh_per_month * usd_per_kwh:,.2f}/month" \
        in e.note, e.note
    assert "prices owned power at 100% load" in e.note


@pytest.mark.parametrize(("mode", "horizon", "term"), [("reserved_3y", 3.0, 36), ("reserved_1y", 6.0, 12),
                                                       ("reserved_1y", 12.0, None), ("on_demand", 1.0, None)])
def test_a_reserved_term_past_the_horizon_is_stated(mode: str, horizon: float, term: int | None) -> None:
    # a reserved_3y plan at a 3-month horizon reported its monthly rate and never the 36-month commitment
    from planner.economics.breakdown import mode_notes

    notes = mode_notes(mode, 2.0, horizon)  # (2.0: the plan's hourly cost, the term spread over the horizon)
    if term is None:
        assert notes == ()
    else:
        (note,) = notes
        assert f"commits to {term} months: ${2.0 * 730 * horizon:,.0f} over the term" in note
        assert f"{horizon:g}-month horizon" in note and f"{term / horizon:.3g}x the reserved rate" in note


def test_an_all_spot_plan_says_its_capacity_may_be_reclaimed(catalog: Catalog) -> None:
    """An auditor (2026-12-07): a plan priced spot, every replica pre-emptible, printed its SLO figures at a 57%
    saving without a word, where plan-fleet refuses spot alone (tests/test_fleet.py). Basis: what spot capacity is
    (a provider reclaims it at will); the note is in the plan's cost warnings, on every plan of a spot workload."""
    from dataclasses import replace

    from hardware_catalog.outputs import plan_result_out

    w = load_workload(Path(__file__).resolve().parents[1] / "examples" / "support-chatbot.yaml")
    spot = replace(w, constraints=replace(w.constraints, pricing=Pricing(mode="spot")))
    doc = plan_result_out(plan(spot, catalog, top=3, explain=False))
    assert doc.plans and all(any(n.startswith("spot: every replica of this plan is pre-emptible") for n in
                                 p.cost.warnings) for p in doc.plans)
    on_demand = plan_result_out(plan(w, catalog, top=1, explain=False))
    assert not any("pre-emptible" in n for p in on_demand.plans for n in p.cost.warnings)


def test_a_reserved_term_past_the_horizon_is_paid_over_the_horizon(catalog: Catalog) -> None:
    """Basis: the commitment's arithmetic. A 36-month reservation is paid for 36 months whether or not the deployment
    runs past a 12-month horizon, so over that horizon it costs 3x its monthly rate: the same plan at a 36-month
    horizon costs a third as much a month, and a budget between the two admits it only there (support-chatbot
    under reserved_3y passed a $1,000 budget at $838/month while committing $30,156)."""
    from dataclasses import replace

    from planner.workload import Budget

    w = load_workload(EXAMPLES / "support-chatbot.yaml")
    w = replace(w, constraints=replace(w.constraints, pricing=replace(w.constraints.pricing, mode="reserved_3y")))
    tables = catalog_tables(catalog)
    whole = plan(replace(w, budget=Budget(horizon_months=36.0)), catalog, tables=tables, top=1, explain=False).plans[0]
    short = plan(replace(w, budget=Budget(horizon_months=12.0)), catalog, tables=tables, top=1, explain=False).plans[0]
    assert whole.deployments == short.deployments
    assert short.cost.per_month == pytest.approx(3.0 * whole.cost.per_month, rel=1e-9)
    budget = 1.5 * whole.cost.per_month
    assert plan(replace(w, budget=Budget(max_cost_per_month=budget, horizon_months=36.0)), catalog, tables=tables,
                top=1, explain=False).plans
    short_budget = replace(w, budget=Budget(max_cost_per_month=budget, horizon_months=12.0))
    refused = plan(short_budget, catalog, tables=tables, top=1, explain=True)
    assert not refused.plans and refused.infeasible is not None
    # the explanation offers the whole term as the horizon, verified by re-solving
    assert ("budget.horizon_months", 36.0) in {(x.constraint, x.value) for x in refused.infeasible.relaxations}


def test_a_two_pool_plans_energy_note_says_each_thing_once(catalog: Catalog) -> None:
    """A disaggregated plan's energy joins its pools' notes: both pools' region mapping read twice ("us-east-1 mapped
    to us-east4; us-east-1 mapped to us-east4")."""
    w = load_workload(EXAMPLES / "disagg-long-prompts.yaml")
    plans = plan(w, catalog, tables=catalog_tables(catalog), explain=False).plans
    two_pool = [p for p in plans if len({d.role for d in p.deployments}) > 1]
    assert two_pool
    for p in two_pool:
        assert p.cost.energy is not None and p.cost.energy.note
        parts = p.cost.energy.note.split("; ")
        assert len(parts) == len(set(parts)), p.cost.energy.note


def test_an_owned_plan_says_which_of_its_inputs_are_estimates(catalog: Catalog) -> None:
    """Basis: owned.yaml's own flags and ranges, and the capital arithmetic capex / (years x 8,760 h) x 730 h.
    A rented price resting on weak or old offers is flagged; an owned one said nothing of an H100 capex that is an
    estimate of $25,000-40,000 (the plan's capital part moves by about +-26% over it) or of facility defaults
    flagged uncertain. An input the workload sets is the user's: not flagged."""
    from dataclasses import replace

    from planner.workload import Constraints, Slo, Tokens, Traffic, Workload

    owned = catalog.owned
    assert owned is not None
    capex, years = owned.capex_usd["h100-sxm"], owned.facility["amortisation_years"].value
    assert capex.low is not None and capex.high is not None and "estimate" in capex.flags
    w = Workload(name="owned-h100", traffic=Traffic(requests_per_s=2.0, input_tokens=Tokens(500.0),
                                                    output_tokens=Tokens(200.0)),
                 slo=Slo(targets={"tpot_ms": {99: 100.0}}),
                 constraints=Constraints(models=("llama-3.1-8b",), hardware=("h100-sxm",),
                                         pricing=Pricing(mode="owned")))
    best = plan(w, catalog, tables=catalog_tables(catalog), top=1, explain=False).plans[0]
    chips = sum(d.chips_per_replica * d.replicas for d in best.deployments)
    month = lambda usd: usd / (years * 8760.0) * 730.0 * chips  # noqa: E731
    warnings = plan_out(best).cost.warnings
    (line,) = [x for x in warnings if x.startswith("h100-sxm: owned capex")]
    assert f"${month(capex.low):,.0f}-${month(capex.high):,.0f}/month (${month(capex.value):,.0f} here)" in line
    assert any("amortisation over 3 years" in x for x in warnings)
    mine = replace(w, constraints=replace(w.constraints, pricing=Pricing(
        mode="owned", owned=(("amortisation_years", 4.0), ("capex_usd_per_chip", 28000.0)))))
    best = plan(mine, catalog, tables=catalog_tables(catalog), top=1, explain=False).plans[0]
    warnings = plan_out(best).cost.warnings
    assert not any("owned capex" in x or "amortisation" in x for x in warnings), warnings


def test_a_weak_offer_that_moves_a_price_is_named(catalog: Catalog) -> None:
    """Basis: prices_2026.md's rows. The L40S's $2.68 is the median of AWS's $1.861 and OCI's ~$3.50 (an
    approximate list price, third-party); the H200's $11.34 takes in Azure's ~$13.78 [U] and OCI's ~$12.25, the
    firm AWS $7.91 and GCP $10.44 alone giving $9.175. Only a price resting wholly on weak offers was flagged;
    one that weak offers move by more than 5% now is too, naming them and the price without them. A T4's on-demand
    price, whose offers are all firm, gets none."""
    from planner.economics.breakdown import price_warnings
    from planner.economics.rates import chip_rate

    for hw, named, price, firm in (("l40s", "(oci)", "$2.68", "$1.861"), ("h200", "(azure, oci)", "$11.34", "$9.175")):
        rate = chip_rate(catalog, hw, "on_demand")
        assert isinstance(rate, ChipRate) and rate.quote is not None
        (line,) = price_warnings(hw, rate.quote.offers, (), from_sheet=False)
        assert named in line and price in line and f"without them {firm}" in line, line
    t4 = chip_rate(catalog, "t4", "on_demand")
    assert isinstance(t4, ChipRate) and t4.quote is not None
    assert not any(o.flags for o in t4.quote.offers)
    assert price_warnings("t4", t4.quote.offers, (), from_sheet=False) == []


def test_a_price_sheet_figure_far_outside_every_public_offer_is_named(catalog: Catalog) -> None:
    """Basis: the public offers' own range. An L4 sheet at $0.045 (for $0.45) planned at $164/month, labelled only
    "price sheet"; a figure more than 3x below the lowest or above the highest public offer in its mode is named
    with that range. One inside it is the user's and says nothing."""
    from planner.economics.breakdown import price_warnings
    from planner.economics.pricing import PriceBook, select_price

    public = [o.usd_per_chip_hour for o in catalog.prices.for_hardware("l4") if o.mode == "on_demand"
              and not o.flags & {"stale", "gpu_only"}]
    for usd, named in ((0.045, True), (0.45, False), (min(public) / 2.9, False), (max(public) * 3.1, True)):
        sheet = PriceBook(offers=(Offer(hardware="l4", provider="mine", market="hyperscaler", mode="on_demand",
                                        usd_per_chip_hour=usd, region="us-east-1", as_of=date(2026, 11, 1),
                                        source="our contract"),))
        q = select_price(catalog.prices, "l4", PricingSpec(), sheet=sheet)
        assert isinstance(q, PriceQuote) and q.from_sheet and q.public == (min(public), max(public))
        lines = price_warnings("l4", q.offers, (), from_sheet=True, public=q.public)
        assert any("outside 3x the public offers" in x for x in lines) == named, (usd, lines)


def test_a_plan_says_sheet_only_where_the_sheet_priced_it(catalog: Catalog) -> None:
    """A reviewer (2026-12-07): a sheet whose offers applied to none of the plan's chips (another mode) left every
    price public while the cost read 'on_demand + sheet'. Basis: the plan's own price sources (from_sheet)."""
    from dataclasses import replace

    from planner.economics.pricing import Offer, PriceBook

    w = load_workload(Path(__file__).resolve().parents[1] / "examples" / "support-chatbot.yaml")

    def offers(mode: str) -> PriceBook:
        return PriceBook(offers=tuple(Offer(hardware=h, provider="internal", market="hyperscaler", mode=mode,
                                            usd_per_chip_hour=0.5, region="unspecified", as_of=date(2026, 10, 1),
                                            source="rate card") for h in ("l4", "l40s")))

    for mode, label in (("reserved_1y", "on_demand"), ("on_demand", "on_demand + sheet")):
        priced = replace(w, constraints=replace(w.constraints, pricing=Pricing(sheet=offers(mode))))
        p = plan(priced, catalog, top=1, explain=False).plans[0]
        assert p.cost.pricing == label, mode
        assert any(s.from_sheet for s in p.cost.sources) == (label.endswith("sheet"))
