"""POST /v1/validate: predict measured records with the catalog's calibration; report errors.

The body is a measurements file's content as JSON. Unlike the file reader, which skips bad
records, the API rejects a body with any invalid record (422 naming ``measurements.N.field``);
duplicate ids and records the model cannot predict are reported under ``skipped``. The work runs in the
bounded planning pool (503 with Retry-After when full), and a request holds at most
``max_server_measurements`` records under load (each runs the queueing model; a disaggregated pair counts
``PAIR_LOAD``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import PoolDep, SettingsDep, SnapshotDep
from api.errors import LimitExceeded
from api.schemas import ValidateRequest, problems
from api.store import Snapshot
from hardware_catalog.inputs.measurements import (
    BadRecord,
    MeasurementIn,
    duplicate_id,
    require_predictable,
    to_measurement,
)
from hardware_catalog.outputs import ValidationOut, validation_out
from planner.calibration.predict import Measurement, predict_calibrated, prepare
from planner.model.estimate import Scenario

__all__ = ["router"]

router = APIRouter(tags=["planning"])


@router.post("/v1/validate", response_model=ValidationOut, response_model_exclude_unset=True,
             responses=problems((503, "every planning slot is taken: retry after Retry-After")))
async def post_validate(body: ValidateRequest, snapshot: SnapshotDep, settings: SettingsDep, pool: PoolDep,
                        response: Response, request: Request) -> ValidationOut:
    """The same JSON as ``hwplan validate --json``."""
    if len(body.measurements) > settings.max_measurements:
        raise LimitExceeded(f"at most {settings.max_measurements} records per request, got "
                            f"{len(body.measurements)}", field="measurements")
    under_load = sum(_load(r) for r in body.measurements)
    if under_load > settings.max_server_measurements:
        raise LimitExceeded(f"at most {settings.max_server_measurements} records of scenario 'server' per request "
                            f"(each runs the queueing model; a disaggregated pair counts {PAIR_LOAD}), got "
                            f"{under_load}", field="measurements")
    response.headers["X-Catalog-Version"] = snapshot.catalog.version
    return await pool.run(lambda: _validate(body, snapshot), request.is_disconnected)


# a disaggregated pair (``predict._disaggregated``) runs both pools' queueing models over a bisection of its own:
# ~84 ms of CPU where an aggregated record under load takes ~15 ms (500 pairs: 42 s against 7.5 s, 2026-12-08)
PAIR_LOAD = 6


def _load(r: MeasurementIn) -> int:
    """A record's share of ``max_server_measurements``: 0 off load, 1 under load, ``PAIR_LOAD`` for a pair."""
    if r.scenario is not Scenario.SERVER:
        return 0
    return PAIR_LOAD if r.mlperf is not None and r.mlperf.disaggregated is not None else 1


def _validate(body: ValidateRequest, snapshot: Snapshot) -> ValidationOut:
    records: list[Measurement] = []
    bad: list[BadRecord] = []
    seen: dict[str, int] = {}  # id -> the position of the record kept with it
    for position, r in enumerate(body.measurements):
        if r.id in seen:
            bad.append(duplicate_id(r.id, position, seen[r.id]))
        else:
            seen[r.id] = position
            records.append(to_measurement(r))
    rs, skipped = prepare(snapshot.catalog, snapshot.tables, records)
    require_predictable(len(rs), len(body.measurements), skipped, bad)
    return validation_out(rs, predict_calibrated(snapshot.tables, rs, snapshot.catalog.calibration), bad, skipped)
