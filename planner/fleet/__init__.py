"""Fleet planning: many workloads over months, sharing quotas, with redundancy and pricing modes.

- ``demand``    requests/s per workload, month and shared period (profile x growth)
- ``options``   the replica shapes a workload's schedule may buy (from the single-workload search)
- ``prices``    per-mode replica prices (the adapter to the catalog's or the price layer's prices)
- ``model``     one CP-SAT model over every workload, month and period
- ``planning``  ``plan_fleet``: demand -> options -> joint schedule -> comparison with planning alone
- ``sweep``     what-if scenarios: a base workload or fleet x axes, each planned independently

Pure: no I/O; the fleet file lives in ``hardware_catalog.inputs.fleet``, the Ray runner in ``cli``.
"""

from planner.fleet.demand import Demand, fleet_demand
from planner.fleet.planning import Fleet, plan_fleet
from planner.fleet.prices import ChipPrices, Mode, book_prices, catalog_prices
from planner.fleet.results import Commit, FleetPlan, MonthRow, ScaleBounds, WorkloadSchedule

__all__ = ["ChipPrices", "Commit", "Demand", "Fleet", "FleetPlan", "Mode", "MonthRow", "ScaleBounds",
           "WorkloadSchedule", "book_prices", "catalog_prices", "fleet_demand", "plan_fleet"]
