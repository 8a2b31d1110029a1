"""The lever report: what each economising lever of the top plan is worth for this workload.

For the top plan, each lever (model size, precision, adaptation, runtime, hardware family) is set
to its baseline while every other choice stays pinned to the top plan's, and the workload is
re-planned (``planner.search.planning.plan``). Baselines: bf16 weights; no adaptation; the smallest catalog
model whose unadapted 16-bit score meets the quality floor, at the top plan's precision (16-bit where it
misses the floor there: the precision lever is its own row); the hardware's default runtime; the
cheapest plan on another hardware family priced in the same market and mode (every allowed chip
of the other families that ``chip_rate`` prices under the workload's pricing; the solver picks the
cheapest, so the baseline is the best alternative silicon at comparable prices, not a fixed chip
whose price regime may differ). The saving is the baseline plan's monthly cost minus the top plan's (None when the
baseline has no feasible plan: then the lever is what makes the workload feasible at all).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

from planner.domain import Catalog
from planner.economics.rates import ChipRate, chip_rate
from planner.levers.quality import quality
from planner.model.grid import CatalogTables
from planner.search.planning import plan
from planner.search.results import Plan
from planner.search.stop import passed
from planner.workload import Availability, Objective, Workload

__all__ = ["LeverRow", "lever_report", "other_families", "value_of"]

BASELINE_PRECISIONS = ("bf16", "fp16")  # fp16 where the chip has no bf16
# The model-size row frees hardware and runtime (a larger model needs other chips); other rows pin them.


@dataclass(frozen=True)
class LeverRow:
    lever: str
    baseline: str
    plan: Plan | None
    saving_per_month: float | None  # baseline cost - top plan cost
    complete: bool = True  # false: the re-plan stopped at the deadline (its plan unproven), or never ran


Pins = dict[str, tuple[str, ...] | None]


SERVING_LEVERS = {"prefix caching": "prefix_caching", "speculative decoding": "speculative"}


def _pinned(w: Workload, top: Plan, override: Pins) -> Workload:
    """The workload with the top plan's choices pinned, except what ``override`` sets; a serving
    lever's row (``override["serving"]``) flips that feature and pins the others to the top plan's."""
    pins: Pins = {"models": (top.model,), "precisions": (top.precision,), "adaptations": (top.adaptation,),
                  "runtimes": (top.runtime,), "hardware": tuple(sorted(top.hardware_types))}
    pins.update(override)
    # the workload's other serving rules stay, and the top plan's shape too: a two-pool top plan's rows
    # re-plan two pools (they had dropped ``disaggregation`` and re-planned aggregated, so 'model size' with
    # the same model 'saved' what disaggregation saves)
    constraints = replace(w.constraints, models=pins["models"], precisions=pins["precisions"],
                          adaptations=pins["adaptations"], runtimes=pins["runtimes"], hardware=pins["hardware"],
                          serving={**w.constraints.serving,
                                   **{f: "required" if f in top.features else "forbidden"
                                      for f in (*SERVING_LEVERS.values(), "disaggregation")}})
    flip = override.get("serving")
    if flip:
        feature = flip[0]
        constraints = replace(constraints, runtimes=w.constraints.runtimes, hardware=w.constraints.hardware,
                              serving={**constraints.serving,
                                       feature: "forbidden" if feature in top.features else "required"})
    return replace(w, constraints=constraints)


def _smallest_general(catalog: Catalog, w: Workload) -> str | None:
    floor = w.quality.min_score
    ok = [m for m in catalog.models.values()
          if (w.constraints.models is None or m.id in w.constraints.models)
          and (q := quality(catalog, model=m, precision="bf16", task=w.quality.task)).known
          and (floor is None or q.score >= floor)]
    return min(ok, key=lambda m: (m.params, m.id)).id if ok else None


def other_families(catalog: Catalog, w: Workload, top: Plan) -> tuple[str, ...]:
    """Chips of families the top plan does not use that have a price under the workload's pricing.

    The workload's hardware allow-list does not apply (the baseline is a counterfactual: what the
    plan would cost on other silicon); chips it excludes stay excluded."""
    c = w.constraints
    families = {catalog.hardware[h].family for h in top.hardware_types}
    return tuple(sorted(h.id for h in catalog.hardware.values()
                        if h.family not in families and h.id not in c.exclude_hardware
                        and isinstance(chip_rate(catalog, h.id, c.pricing), ChipRate)))


def _baselines(catalog: Catalog, w: Workload, top: Plan) -> list[tuple[str, str, Pins]]:
    hw = catalog.get_hardware(sorted(top.hardware_types)[0])
    others = other_families(catalog, w, top)
    small = _smallest_general(catalog, w)
    rows: list[tuple[str, str, Pins]] = []
    if small is not None:
        # the top plan's precision stays (16-bit where the model misses the floor there), so the row does
        # not count the precision lever again; a larger model rarely fits the top plan's chips: the
        # hardware and runtime are re-chosen
        precisions = tuple(dict.fromkeys((top.precision, *BASELINE_PRECISIONS)))
        rows.append(("model size", f"{small}, unadapted (smallest meeting the floor)",
                     {"models": (small,), "adaptations": ("none",), "precisions": precisions,
                      "hardware": w.constraints.hardware, "runtimes": w.constraints.runtimes}))
    rows.append(("precision", "bf16", {"precisions": BASELINE_PRECISIONS}))
    rows.append(("adaptation", "none", {"adaptations": ("none",)}))
    rows.append(("runtime", f"{hw.default_runtime} (default on {hw.id})",
                 {"runtimes": (hw.default_runtime,)}))
    for lever, feature in SERVING_LEVERS.items():
        if feature in top.features or w.constraints.serving_rule(feature) == "allowed" or (
                feature == "prefix_caching" and w.traffic.prefix is not None):
            baseline = "off" if feature in top.features else "on"
            if baseline == "on" and feature == "speculative" and feature not in w.constraints.serving:
                # the search leaves speculative decoding out unless the workload opts in (its gain rests on
                # a drafter's acceptance rate on this traffic): the row says what opting in would be worth
                baseline += " (not searched: opt in with constraints.serving.speculative: allowed)"
            rows.append((lever, baseline, {"serving": (feature,)}))
    if others:
        rows.append(("hardware family", f"cheapest other family at {w.constraints.pricing.label} prices",
                     {"hardware": others, "runtimes": w.constraints.runtimes}))
    return rows


def lever_report(catalog: Catalog, w: Workload, top: Plan, *, time_limit_s: float = 5.0,
                 tables: CatalogTables | None = None, deadline_s: float | None = None) -> list[LeverRow]:
    """One row per lever: the re-planned baseline, its cost and quality, and the saving. Pass the
    ``tables`` the plan used: the re-plans then share them and their per-catalog constants.
    ``time_limit_s`` bounds each re-plan, ``deadline_s`` (seconds from the call: a request's time left) all of
    them: a re-plan gets at most what is left, and once nothing is, the rows left are not re-planned (each
    such row, and one whose re-plan stopped at its limit, has ``complete`` false)."""
    tables = tables or CatalogTables.from_catalog(catalog)
    end = math.inf if deadline_s is None else time.perf_counter() + deadline_s
    rows = [(lever, baseline, _pinned(w, top, override)) for lever, baseline, override in _baselines(catalog, w, top)]
    if not w.availability.is_default:  # what the redundancy and headroom cost: the same choices without them
        rows.append(("availability", "1 replica minimum, no spare, full SLO capacity",
                     replace(_pinned(w, top, {}), availability=Availability())))
    out = []
    for lever, baseline, pinned in rows:
        if passed(end):  # (or the work was asked to stop: planner.search.stop)
            out.append(LeverRow(lever, baseline, None, None, complete=False))
            continue
        left = end - time.perf_counter()
        result = plan(pinned, catalog, top=1, objective=Objective.COST, time_limit_s=min(time_limit_s, left),
                      tables=tables, explain=False)
        best = result.plans[0] if result.plans else None
        saving = None if best is None else best.cost.per_month - top.cost.per_month
        if lever == "hardware family" and best is not None:
            baseline += ": " + ", ".join(sorted(best.hardware_types))
        out.append(LeverRow(lever, baseline, best, saving, complete=result.search.solver_status != "TIME_LIMIT"))
    return out


def value_of(top: Plan, lever: str) -> str:
    return {"model size": top.model, "precision": top.precision, "adaptation": top.adaptation,
            "runtime": top.runtime, "hardware family": ", ".join(sorted(top.hardware_types)),
            "availability": f"{sum(d.replicas for d in top.deployments)} replicas",
            **{k: "on" if f in top.features else "off" for k, f in SERVING_LEVERS.items()}}[lever]
