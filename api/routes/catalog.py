"""The catalog: GET every kind and entry (with ETags); PUT/DELETE hardware and models
(bearer key, If-Match / If-None-Match); the change history and rollback."""

import json
from typing import Annotated, Any, cast

from fastapi import APIRouter, Header, Path, Query, Response
from pydantic import BaseModel

from api.deps import SnapshotDep, StoreDep, WriterDep
from api.errors import NotFound
from api.schemas import ID_PATTERN, HistoryEntry, HistoryOut, RollbackRequest, problems
from hardware_catalog.schema import HardwareFile, ModelFile, PrecisionFile, RuntimeFile
from planner.errors import InputError

__all__ = ["router"]

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])

EntryId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64, description="Entry id.")]
IfMatch = Annotated[str | None, Header(description="ETag from GET; required to replace or delete.")]
IfNoneMatch = Annotated[str | None, Header(description="'*' to create an entry that must not exist.")]
READ_MODELS: dict[str, type[BaseModel]] = {"hardware": HardwareFile, "models": ModelFile,
                                           "runtimes": RuntimeFile, "precisions": PrecisionFile}
WRITE_ERRORS = problems(
    (401, "missing or wrong bearer key"), (403, "the server has no key: read-only"),
    (409, "rollback conflicts with a later change"), (412, "If-Match is stale"),
    (428, "If-Match (or If-None-Match: *) is required"))


def _json(data: Any, snapshot_version: str, etag: str | None = None) -> Response:
    headers = {"X-Catalog-Version": snapshot_version}
    if etag is not None:
        headers["ETag"] = etag
    return Response(json.dumps(data, default=str).encode(), media_type="application/json", headers=headers)


def _add_reads(kind: str, model: type[BaseModel]) -> None:
    @router.get(f"/{kind}", response_model=list[model], response_model_exclude_unset=True,  # type: ignore[valid-type]
                name=f"list_{kind}", summary=f"List {kind}")
    def list_entries(snapshot: SnapshotDep) -> Response:
        body = snapshot.memo.get(("list", kind))
        if body is None:  # serialised once per catalog version
            body = json.dumps([r.content for r in snapshot.entries[kind].values()], default=str).encode()
            snapshot.memo[("list", kind)] = body
        return Response(body, media_type="application/json",
                        headers={"X-Catalog-Version": snapshot.catalog.version})

    @router.get(f"/{kind}/{{entry_id}}", response_model=model, response_model_exclude_unset=True,
                name=f"get_{kind}", summary=f"One {kind} entry, with its ETag")
    def get_entry(entry_id: EntryId, snapshot: SnapshotDep) -> Response:
        entry = snapshot.entries[kind].get(entry_id)
        if entry is None:
            # an alias names its model (as `hwplan catalog show` and every request take it): say which entry it is
            aliased = snapshot.catalog.aliased(entry_id) if kind == "models" else None
            canonical = aliased.id if aliased is not None else None
            hint = f": an alias of {canonical!r} (GET /v1/catalog/models/{canonical})" if canonical else ""
            raise NotFound(f"no {kind} entry {entry_id!r}{hint}", field="entry_id")
        return _json(entry.content, snapshot.catalog.version, entry.etag)


def _add_writes(kind: str, model: type[HardwareFile] | type[ModelFile]) -> None:
    @router.put(f"/{kind}/{{entry_id}}", response_model=model, response_model_exclude_unset=True,
                name=f"put_{kind}", summary=f"Create or replace a {kind} entry",
                responses={201: {"model": model, "description": "created"}, **WRITE_ERRORS})
    def put_entry(entry_id: EntryId, body: model, writer: WriterDep, store: StoreDep,  # type: ignore[valid-type]
                  if_match: IfMatch = None, if_none_match: IfNoneMatch = None) -> Response:
        entry = cast(HardwareFile | ModelFile, body)
        if entry.id != entry_id:
            raise InputError(f"must equal the id in the path ({entry_id!r})", field="body.id")
        content = entry.model_dump(mode="json", exclude_unset=True)
        etag, created = store.put(kind, entry_id, content, if_match=if_match, if_none_match=if_none_match,
                                  actor=writer)
        response = _json(content, store.snapshot().catalog.version, etag)
        response.status_code = 201 if created else 200
        return response

    @router.delete(f"/{kind}/{{entry_id}}", status_code=204, response_class=Response,
                   name=f"delete_{kind}", summary=f"Delete a {kind} entry", responses=WRITE_ERRORS)
    def delete_entry(entry_id: EntryId, writer: WriterDep, store: StoreDep,
                     if_match: IfMatch = None) -> Response:
        store.delete(kind, entry_id, if_match=if_match, actor=writer)
        return Response(status_code=204)


@router.get("/history")
def history(store: StoreDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> HistoryOut:
    """Catalog changes, newest first, each with the content it replaced."""
    return HistoryOut(entries=[HistoryEntry.model_validate(e) for e in store.history(limit)])


@router.post("/rollback", responses=WRITE_ERRORS)
def rollback(body: RollbackRequest, writer: WriterDep, store: StoreDep) -> HistoryEntry:
    """Undo one change (itself recorded as a new change, so it can be undone too)."""
    return HistoryEntry.model_validate(store.rollback(body.seq, actor=writer))


for _kind, _model in READ_MODELS.items():
    _add_reads(_kind, _model)
_add_writes("hardware", HardwareFile)
_add_writes("models", ModelFile)
