"""POST /v1/validate: predict measured records with the catalog's calibration; report errors.

The body is a measurements file's content as JSON. Unlike the file reader, which skips bad
records, the API rejects a body with any invalid record (422 naming ``measurements.N.field``);
duplicate ids and records the model cannot predict are reported under ``skipped``.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import SettingsDep, SnapshotDep
from api.errors import LimitExceeded
from api.schemas import ValidateRequest
from hardware_catalog.inputs.measurements import BadRecord, to_measurement
from hardware_catalog.outputs import ValidationOut, validation_out
from planner.calibration.predict import Measurement, predict_calibrated, prepare

__all__ = ["router"]

router = APIRouter(tags=["planning"])


@router.post("/v1/validate", response_model=ValidationOut, response_model_exclude_unset=True)
def post_validate(body: ValidateRequest, snapshot: SnapshotDep, settings: SettingsDep,
                  response: Response) -> ValidationOut:
    """The same JSON as ``hwplan validate --json``."""
    if len(body.measurements) > settings.max_measurements:
        raise LimitExceeded(f"at most {settings.max_measurements} records per request, got "
                            f"{len(body.measurements)}", field="measurements")
    records: list[Measurement] = []
    bad: list[BadRecord] = []
    seen: set[str] = set()
    for r in body.measurements:
        if r.id in seen:
            bad.append(BadRecord(r.id, "id", "duplicate id"))
        else:
            seen.add(r.id)
            records.append(to_measurement(r))
    rs, skipped = prepare(snapshot.catalog, snapshot.tables, records)
    response.headers["X-Catalog-Version"] = snapshot.catalog.version
    return validation_out(rs, predict_calibrated(snapshot.tables, rs, snapshot.catalog.calibration), bad, skipped)
