"""The search: workload -> candidates -> screen -> SLO capacity -> branch and bound -> rank -> explain.

- ``candidates``    runnable replica shapes (the catalog's Universe of per-row model constants)
- ``capacity``      no-load screen, SLO-capacity ceiling and the queueing-model capacity search
- ``prepare``       screened, pruned candidates of one workload and their cost lower bounds
- ``solver``        CP-SAT: integer replica counts of one plan key within quotas and budget
- ``branch_bound``  the loop over plan keys, pruned by lower bounds
- ``build``         solutions -> Plan results (latency percentiles, cost, binding constraints)
- ``rank``          ordering by objective and the Pareto front
- ``run``           one search end to end; ``planning.plan`` adds the explanation of an empty answer
- ``explain``       why nothing fits and verified relaxations
- ``lever_report``  what each economising lever of a plan is worth (re-plans with it at baseline)
"""

from planner.search.lever_report import LeverRow, lever_report
from planner.search.planning import plan
from planner.search.results import Cost, Deployment, Infeasible, Plan, PlanResult, QualityScore, Relaxation, SearchStats

__all__ = ["Cost", "Deployment", "Infeasible", "LeverRow", "Plan", "PlanResult", "QualityScore", "Relaxation",
           "SearchStats", "lever_report", "plan"]
