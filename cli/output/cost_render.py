"""Plain-text lines that explain a plan's cost under the plans table (``hwplan plan``).

The top plan's parts, token prices, energy and carbon; the price behind each chip the shown
plans use (its rule and offers, with a warning when an offer is over 12 months old); and the
chips dropped for want of a price with the pricings that would include them. Lines wrap at the
console width (80 columns by default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from hardware_catalog.outputs import PlanOut, PlanResultOut

__all__ = ["cost_lines", "render_costs"]


def _money(value: float | None, fmt: str = ",.0f") -> str:
    """``value`` in USD; a 'g' format (prices per chip-hour and per million tokens) shows $1,000 and up
    whole with separators, never as $1.05e+03, $1 and up to the cent ($2.70, $10.53: the catalog's and
    the page's figures; 3 significant digits read $2.7 and $10.5), and less than $1 to its significant
    digits ($0.526, $0.00097). Whole dollars (the default) keep a part under $1 that is not zero to the cent:
    a LoRA's one-time $1.12 over 12 months read "adaptation $0"."""
    from planner.text import plain

    if value is None:
        return "—"
    if value < 0:  # (a saving that costs: the sign before the dollar, as the page writes it)
        return "-" + _money(-value, fmt)
    if fmt.endswith("g") and 1 <= abs(value) < 1000:
        return f"${value:,.2f}"
    if fmt == ",.0f" and 0 < abs(value) < 0.5:
        return f"${value:.2f}" if abs(value) >= 0.005 else "<$0.01"
    return f"${plain(value, fmt)}"


def _top_lines(p: PlanOut) -> list[str]:
    c = p.cost
    lines = []
    if c.parts is not None:
        # a cloud price includes the energy: said beside compute, not as a part (it read "energy in the price = $X")
        parts = [f"compute {_money(c.parts.compute)}" + ("" if c.parts.energy else " (energy included in the price)")]
        if c.parts.energy:
            parts.append(f"energy {_money(c.parts.energy)}")
        if c.parts.hosting:
            parts.append(f"hosting {_money(c.parts.hosting)}")
        if c.parts.adaptation:
            parts.append(f"adaptation {_money(c.parts.adaptation)}")
        lines.append(f"#{p.rank} cost/month: " + ", ".join(parts) + f" = {_money(c.per_month)}")
    if c.per_million_tokens_blended is not None:
        # each phase's share of the cost (by the time it holds a request) over its own tokens: input and output are
        # priced apart, so they do not add up to the $/M of output tokens a plan line gives
        lines.append(f"#{p.rank} priced by phase: {_money(c.per_million_input_tokens, '.3g')}/M input tokens "
                     f"(prefill), {_money(c.per_million_output_tokens, '.3g')}/M output tokens (decode); "
                     f"{_money(c.per_million_tokens_blended, '.3g')}/M tokens of both")
    e = c.energy
    if e is not None:
        if e.kwh_per_month is None:
            lines.append(f"#{p.rank} energy: unknown ({e.note})")
        else:
            carbon = "—" if e.kgco2e_per_month is None else f"{e.kgco2e_per_month:,.0f} kgCO2e/month ({e.region})"
            lines.append(f"#{p.rank} energy at {e.utilisation:.0%} utilisation: {e.kwh_per_month:,.0f} kWh/month, "
                         f"{e.kwh_per_million_output_tokens:.3g} kWh/M output tokens; {carbon}"
                         + (f"; {e.note}" if e.note else ""))
    return lines


def cost_lines(out: PlanResultOut) -> list[str]:
    """The explanation lines for a plan result (empty when it has no plans and no unpriced chips)."""
    from hardware_catalog.price_outputs import sized_chip, weak_flags

    lines = _top_lines(out.plans[0]) if out.plans else []
    seen: set[tuple[str, int, float | None]] = set()
    for plan in out.plans:
        for s in plan.cost.sources:  # (one chip's replicas of 1 and of 2+ chips may be priced by other instances)
            if (s.hardware, s.instance_chips, s.usd_per_chip_hour) in seen:
                continue
            seen.add((s.hardware, s.instance_chips, s.usd_per_chip_hour))
            where = "owned" if s.market is None else f"{s.market} {s.mode}"
            offers = "; ".join(f"{o.provider} {_money(o.usd_per_chip_hour, '.3g')} {o.as_of or 'undated'}"
                               + (f" ({o.instance})" if o.instance else "")  # (one provider's sizes: else twins)
                               for o in s.offers)
            sheet = ", price sheet" if s.from_sheet and "price sheet" not in s.rule else ""  # (the rule may say it)
            stale = "; an offer is older than 12 months or undated: confirm it" if s.stale else ""
            if weak := weak_flags(s):  # (the rule of the plan's warnings)
                stale += f"; every offer is flagged {'/'.join(weak)}: confirm it"
            chip = sized_chip(s.hardware, s.instance_chips)
            lines.append(f"price {chip}: {_money(s.usd_per_chip_hour, '.3g')}/chip-h ({where}{sheet}, "
                         f"{s.rule}){': ' + offers if offers else ''}{stale}")
    for plan in out.plans[:1]:
        lines += [f"warning: {w}" for w in plan.cost.warnings]
    unpriced = out.search.unpriced
    some = [f"{u.hardware} ({', '.join(u.would_price)})" for u in unpriced if u.would_price]
    none = [u.hardware for u in unpriced if not u.would_price]
    if some:
        lines.append("no price under this pricing, dropped (pricings that would include them): " + "; ".join(some))
    if none:
        lines.append("no price in any pricing, dropped (give --prices, or owned capex in the workload): "
                     + ", ".join(none))
    if out.search.sheet_skipped:
        lines.append("price sheet offers skipped, no such chip in the catalog: " + ", ".join(out.search.sheet_skipped))
    return lines


def render_costs(console: Console, out: PlanResultOut) -> None:
    for line in cost_lines(out):
        console.print(line, markup=False, highlight=False)
