"""``hwplan schema NAME``: the JSON Schema of each input file and output document, for editors
(YAML language servers) and API clients."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.app import app, print_json

__all__ = ["SCHEMAS", "schema_cmd"]

# name -> (module, class, mode): inputs are validated ("validation"), outputs are printed ("serialization")
SCHEMAS: dict[str, tuple[str, str, str]] = {
    "workload": ("hardware_catalog.inputs.workload", "WorkloadIn", "validation"),
    "catalog-hardware": ("hardware_catalog.schema", "HardwareFile", "validation"),
    "catalog-model": ("hardware_catalog.schema", "ModelFile", "validation"),
    "catalog-runtimes": ("hardware_catalog.schema", "RuntimesFile", "validation"),
    "catalog-precisions": ("hardware_catalog.schema", "PrecisionsFile", "validation"),
    "catalog-calibration": ("hardware_catalog.schema", "CalibrationFile", "validation"),
    "measurement": ("hardware_catalog.inputs.measurements", "MeasurementIn", "validation"),  # one record
    "plan": ("hardware_catalog.outputs", "PlanResultOut", "serialization"),
    "estimate": ("hardware_catalog.outputs", "EstimateOut", "serialization"),
    "finetune": ("hardware_catalog.outputs", "FinetuneOut", "serialization"),
    "validation": ("hardware_catalog.outputs", "ValidationOut", "serialization"),
    "calibration": ("hardware_catalog.outputs", "CalibrationOut", "serialization"),
    "levers": ("hardware_catalog.outputs", "LeverReportOut", "serialization"),
    "fleet": ("hardware_catalog.inputs.fleet", "FleetIn", "validation"),
    "sweep": ("hardware_catalog.inputs.sweep", "SweepIn", "validation"),
    "fleet-plan": ("hardware_catalog.fleet_outputs", "FleetPlanOut", "serialization"),
}


@app.command("schema")
def schema_cmd(
    name: Annotated[str, typer.Argument(help=" | ".join(SCHEMAS))],
) -> None:
    """Print the JSON Schema of an input file or of an output document (what --json prints)."""
    import importlib

    from planner.errors import InputError

    if name not in SCHEMAS:
        raise InputError(f"unknown schema {name!r} (one of {', '.join(SCHEMAS)})", field="name")
    module, cls, mode = SCHEMAS[name]
    model = getattr(importlib.import_module(module), cls)
    print_json(model.model_json_schema(mode=mode))
