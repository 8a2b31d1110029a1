"""The files a user writes, read and validated (pydantic at the boundary) into the planner's domain objects:
workloads, fleets, sweeps and measurements. Each error names the file and the field."""

__all__ = ["fleet", "measurements", "sweep", "workload"]
