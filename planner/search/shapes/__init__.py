"""Replica shapes: which configurations can run a workload and what each one carries.

``candidates`` enumerates them (rows of the catalog's Universe), ``roofline`` bounds a plan key's cost
from below, ``capacity`` screens them and finds each one's SLO capacity with the queueing model,
``prepare`` holds one workload's screened shapes with their costs, capacities and bounds, and
``answers`` keeps what a shape carries between searches that ask the same question.
"""

__all__ = ["answers", "candidates", "capacity", "prepare", "roofline"]
