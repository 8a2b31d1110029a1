"""``hwplan export``, ``hwplan compare`` and ``hwplan replan``: saved plans to artifacts and diffs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.app import CatalogOpt, JsonOpt, OverlayOpt, WideOpt, app, load, print_doc, seconds

if TYPE_CHECKING:
    from hardware_catalog.outputs import CompareOut
    from hardware_catalog.saved import PlanStore

__all__ = ["compare_cmd", "export_cmd", "replan_cmd"]

DbOpt = Annotated[str | None, typer.Option("--db", envvar="HWPLAN_DATABASE_URL",
                                           help="Saved plans' database URL (default ~/.hwplan/plans.db).")]


def _store(db: str | None) -> PlanStore:
    from hardware_catalog.saved import PlanStore

    return PlanStore(db)


def _record(ref: str, db: str | None, *, field: str = "PLAN", files: bool = True) -> dict[str, Any]:
    """A saved plan's record, by id, or a ``hwplan plan --json`` file (no workload, prices or version); an
    InputError names ``field``, the argument ``ref`` was given as (``files``: whether the command takes a file,
    which its messages then offer)."""

    from planner.errors import InputError

    if not ref.strip():
        raise InputError("empty: give a saved plan's id" + (" or a `hwplan plan --json` file" if files else ""),
                         field=field)
    path = Path(ref)
    if path.suffix == ".json" or path.exists():
        return {"id": None, "workload": {}, "result": _plan_document(path, field), "catalog_version": "",
                "prices": {}}
    saved = _store(db).get(ref)
    if saved is None:
        raise InputError(f"no saved plan {ref}" + (" (and no such file)" if files else ""), field=field)
    return {"id": saved.id, "workload": saved.workload, "result": saved.result,
            "catalog_version": saved.catalog_version, "prices": saved.prices}


def _plan_document(path: Path, field: str = "PLAN") -> dict[str, Any]:
    """A ``hwplan plan --json`` file's document; an InputError on ``field`` when it is not one."""
    import json

    from pydantic import ValidationError

    from hardware_catalog.outputs import PlanResultOut
    from planner.errors import InputError

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}", field=field) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not JSON ({exc})", field=field) from exc
    try:
        PlanResultOut.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the document"
        raise InputError(f"{path}: not a `hwplan plan --json` document ({where}: {first['msg']})",
                         field=field) from exc
    assert isinstance(doc, dict)  # (a PlanResultOut validates from a JSON object only)
    return doc


@app.command("export")
def export_cmd(
    plan: Annotated[str, typer.Argument(help="A saved plan id, or a `hwplan plan --json` file.")],
    fmt: Annotated[str, typer.Option("--format", help="vllm, sglang, trtllm, jetstream, neuron, llama.cpp, k8s, "
                                                      "kserve, lws, or quantise (the job writing the "
                                                      "quantised checkpoint a plan's launch files load).")],
    rank: Annotated[int, typer.Option(min=1, max=50, help="Which ranked plan.")] = 1,
    out: Annotated[Path | None, typer.Option("--out", help="Write the files here (default: print).")] = None,
    deployment: Annotated[int | None, typer.Option(
        min=1, help="Engine formats: only this deployment's launch script (1-based; one per deployment, each run "
                    "on its own machines).")] = None,
    workload: Annotated[Path | None, typer.Option(help="Workload YAML (for a --json file; sets max lengths).")] = None,
    db: DbOpt = None,
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Engine launch commands or Kubernetes manifests for one plan (exit 2 when it cannot be expressed).

    --json prints the files as GET /v1/plans/{id}/export answers with Accept: application/json.
    """
    from hardware_catalog.export import ENGINE_FORMATS, export, one_deployment
    from hardware_catalog.files import read_yaml
    from hardware_catalog.inputs.workload import WorkloadIn, to_workload
    from hardware_catalog.outputs import PlanResultOut, export_out

    rec = _record(plan, db)
    wl_data = read_yaml(workload) if workload else rec["workload"]
    artifacts = export(PlanResultOut.model_validate(rec["result"]), load(catalog, add), fmt, rank=rank,
                       workload=to_workload(WorkloadIn.model_validate(wl_data)) if wl_data else None)
    if deployment is not None:
        artifacts = one_deployment(artifacts, fmt, deployment, all_hint="leave --deployment out")
    elif out is None and not json_out and fmt in ENGINE_FORMATS and len(artifacts) > 1:
        typer.echo(f"{len(artifacts)} launch scripts, one per deployment, each run on its own machines: "
                   "--out DIR writes each to its file, --deployment N prints one", err=True)
    if json_out and out is None:
        print_doc(export_out(fmt, rank, artifacts))
        return
    for a in artifacts:
        if out is None:
            typer.echo(a.content)
        else:
            out.mkdir(parents=True, exist_ok=True)
            (out / a.name).write_text(a.content, encoding="utf-8")
            typer.echo(str(out / a.name))


@app.command("compare")
def compare_cmd(a: Annotated[str, typer.Argument(help="Saved plan id or --json file.")],
                b: Annotated[str, typer.Argument(help="Saved plan id or --json file.")],
                db: DbOpt = None, json_out: JsonOpt = False, wide: WideOpt = False) -> None:
    """Two plans side by side (top plan's cost, hardware, p99s, quality) and what changed.

    --json prints the document GET /v1/plans/compare?a=&b= answers.
    """
    from hardware_catalog.compare import compare

    first, second = _record(a, db, field="A"), _record(b, db, field="B")
    _print_compare(compare(first, second), (a, b), files=not (first["workload"] and second["workload"]),
                   json_out=json_out, wide=wide)


def _print_compare(out: CompareOut, labels: tuple[str, str], *, json_out: bool, wide: bool, files: bool = False
                   ) -> None:
    if json_out:
        print_doc(out)
        return
    from cli.output.compare_render import render_compare
    from cli.output.console import Console

    render_compare(Console(), out, labels, files=files, wide=wide)


@app.command("replan")
def replan_cmd(plan_id: Annotated[str, typer.Argument(help="Saved plan id.")],
               time_limit: Annotated[float, typer.Option(parser=seconds(0.5, 600),
                                                         help="Seconds for the search (0.5 to 600).")] = 20.0,
               save: Annotated[bool, typer.Option("--save", help="Save the new result too.")] = False,
               db: DbOpt = None, catalog: CatalogOpt = None, add: OverlayOpt = None, json_out: JsonOpt = False,
               wide: WideOpt = False) -> None:
    """Re-run a saved workload on today's catalog and show what changed (as `hwplan compare`; --json: its document)."""
    from hardware_catalog.compare import compare
    from hardware_catalog.inputs.workload import WorkloadIn, to_workload
    from hardware_catalog.outputs import plan_result_out
    from hardware_catalog.saved import not_saved, prices_used
    from planner.search.planning import plan
    from planner.workload import Objective

    old = _record(plan_id, db, field="PLAN_ID", files=False)
    if old["id"] is None:  # (a `hwplan plan --json` file: export and compare take one, it keeps no workload)
        from planner.errors import InputError

        raise InputError(f"{plan_id} is a `hwplan plan --json` file, which keeps no workload to re-plan: give a "
                         "saved plan's id (`hwplan plan --save` prints it)", field="PLAN_ID")
    cat = load(catalog, add)
    top = max(1, len(old["result"].get("plans", [])))
    objective = Objective(old["result"].get("objective", "cost"))  # ranked as it was (a change would be no news)
    result = plan_result_out(plan(to_workload(WorkloadIn.model_validate(old["workload"])), cat, top=top,
                                  objective=objective, time_limit_s=time_limit)
                             ).model_dump(mode="json", exclude_unset=True)
    new = {"id": None, "workload": old["workload"], "result": result, "catalog_version": cat.version,
           "prices": prices_used(result)}
    if save and (why := not_saved(result)) is not None:
        typer.echo(f"not saved: {why}", err=True)
    elif save:
        new["id"] = _store(db).save(workload=old["workload"], result=result, catalog_version=cat.version,
                                    prices=new["prices"], saved_by="cli").id
    _print_compare(compare(old, new), (plan_id, new["id"] or "re-planned, not saved"), json_out=json_out, wide=wide)
