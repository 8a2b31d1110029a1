"""The performance model: what one configuration needs and how fast it runs.

- ``grid``       catalog tables and the configuration grid every function takes (numpy arrays)
- ``perf``       memory per chip and step time (roofline per operator class, collectives)
- ``scenarios``  static batch and max-throughput measurement scenarios
- ``load``       under load: ``load.queueing``, the server scenario (continuous batching as a Markov
                 chain, latency percentiles), ``load.scheduler`` (iteration cost and overlap),
                 ``load.simulate``, the discrete-event simulation the chain is checked against
- ``estimate``   one configuration end to end (what ``hwplan estimate`` prints)
"""

from planner.model.estimate import Config, Estimate, Scenario, estimate, resolve
from planner.model.grid import CatalogTables, Efficiencies, Grid
from planner.model.load.queueing import LengthDist, serve, server
from planner.model.perf import MemoryCoefficients, MemoryModel, StepCoefficients, StepModel, memory, step_time

__all__ = ["CatalogTables", "Config", "Efficiencies", "Estimate", "Grid", "LengthDist", "MemoryCoefficients",
           "MemoryModel", "Scenario", "StepCoefficients", "StepModel", "estimate", "memory", "resolve", "serve",
           "server", "step_time"]
