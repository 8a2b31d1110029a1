"""Saved plans in a database (SQLAlchemy 2, schema by Alembic migrations in ``migrations/``).

A SQLite file by default (``~/.hwplan/plans.db``, created on first use), PostgreSQL (or any
SQLAlchemy URL) when ``HWPLAN_DATABASE_URL`` names one. A saved plan keeps the workload as given,
the full result document, the catalog version (content hash) and the prices of the chips its
plans use, who saved it (an API key's name, or ``cli``; never a key) and when.
"""

from __future__ import annotations

import datetime
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Engine, MetaData, String, Table, create_engine, delete, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from hardware_catalog.price_outputs import sized_chip
from planner.errors import StoreError

__all__ = ["PlanStore", "SavedPlan", "database_url", "not_saved", "plans"]

metadata = MetaData()
plans = Table(
    "saved_plans", metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("saved_by", String(100), nullable=False),
    Column("workload_name", String(100), nullable=False, index=True),
    Column("catalog_version", String(100), nullable=False),
    Column("workload", JSON, nullable=False),
    Column("result", JSON, nullable=False),
    Column("prices", JSON, nullable=False),
)


def _default_path() -> Path:
    return Path.home() / ".hwplan" / "plans.db"


def database_url(url: str | None = None) -> str:
    if url:
        return url
    if env := os.environ.get("HWPLAN_DATABASE_URL"):
        return env
    return f"sqlite:///{_default_path()}"


@dataclass(frozen=True)
class SavedPlan:
    id: str
    created_at: datetime.datetime
    saved_by: str
    workload_name: str
    catalog_version: str
    workload: dict[str, Any]
    result: dict[str, Any]
    prices: dict[str, Any]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations on ``engine``'s database up to ``revision``."""
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    from alembic import command

    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), revision)


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _usable(url: str) -> Iterator[None]:
    """A database that cannot be opened, migrated, read or written is a StoreError naming it (its password
    hidden) and the driver's reason: one line, not a driver traceback."""
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        orig = getattr(exc, "orig", None) or exc
        reason = (getattr(orig, "strerror", None) or str(orig)).strip().splitlines()[0]
        try:
            shown = make_url(url).render_as_string(hide_password=True)
        except (SQLAlchemyError, ValueError):
            shown = "(an unparsable URL)"
        raise StoreError(f"the plans database {shown} cannot be used: {reason}") from exc


class PlanStore:
    def __init__(self, url: str | None = None) -> None:
        self.url = database_url(url)
        kwargs: dict[str, Any] = {}
        if self.url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        with _usable(self.url):
            if self.url == f"sqlite:///{_default_path()}":  # the default file: its directory is ours to make
                _default_path().parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(self.url, **kwargs)
            upgrade(self.engine)

    def save(self, *, workload: dict[str, Any], result: dict[str, Any], catalog_version: str,
             prices: dict[str, Any], saved_by: str) -> SavedPlan:
        # each plan's ``deploy`` (export.with_deploy) is the catalog's answer when the plan was made, which a later
        # catalog changes: it is not stored (export answers for the catalog of its own request)
        result = {**result, **{key: [{k: v for k, v in p.items() if k != "deploy"} for p in result[key]]
                               for key in ("plans", "pareto") if isinstance(result.get(key), list)}}
        row = SavedPlan(id=uuid.uuid4().hex[:16], created_at=datetime.datetime.now(datetime.UTC), saved_by=saved_by,
                        workload_name=str(workload.get("name", result.get("workload", "workload"))),
                        catalog_version=catalog_version, workload=workload, result=result, prices=prices)
        with _usable(self.url), self.engine.begin() as c:
            c.execute(insert(plans).values(**row.__dict__))
        return row

    def get(self, plan_id: str) -> SavedPlan | None:
        with _usable(self.url), self.engine.connect() as c:
            r = c.execute(select(plans).where(plans.c.id == plan_id)).mappings().first()
        return None if r is None else _row(r)

    def list(self, *, workload: str | None = None, since: datetime.datetime | None = None, limit: int = 50,
             offset: int = 0) -> list[SavedPlan]:
        q = select(plans).order_by(plans.c.created_at.desc(), plans.c.id)
        if workload:
            q = q.where(plans.c.workload_name == workload)
        if since is not None:  # in UTC, as the store writes: SQLite compares the stored text, without a zone
            aware = since if since.tzinfo is not None else since.replace(tzinfo=datetime.UTC)  # naive: UTC
            try:
                utc = aware.astimezone(datetime.UTC)
            except OverflowError:  # 0001-01-01 east of UTC or 9999-12-31 west of it: before / after any time
                utc = (datetime.datetime.min if aware.year == datetime.MINYEAR else datetime.datetime.max
                       ).replace(tzinfo=datetime.UTC)
            q = q.where(plans.c.created_at >= utc)
        with _usable(self.url), self.engine.connect() as c:
            return [_row(r) for r in c.execute(q.limit(limit).offset(offset)).mappings()]

    def delete(self, plan_id: str) -> bool:
        with _usable(self.url), self.engine.begin() as c:
            return bool(c.execute(delete(plans).where(plans.c.id == plan_id)).rowcount)

    def close(self) -> None:
        self.engine.dispose()


def _row(r: Any) -> SavedPlan:
    created = r["created_at"]
    if created.tzinfo is None:  # SQLite keeps no zone: the store writes UTC
        created = created.replace(tzinfo=datetime.UTC)
    data = {k: r[k] for k in ("id", "saved_by", "workload_name", "catalog_version")}
    parsed = {k: (json.loads(r[k]) if isinstance(r[k], str) else r[k]) for k in ("workload", "result", "prices")}
    return SavedPlan(created_at=created, **data, **parsed)


def not_saved(result: dict[str, Any]) -> str | None:
    """Why a result is not saved (None: it is). A search that ran out of time before it found any plan has
    neither a plan nor a proof that none exists (its explanation is not searched): saved, it read as a stored
    answer to the workload. A proven infeasible result is saved (its reasons and relaxations are the answer),
    as is one cut by its deadline with plans (unproven, and marked so)."""
    if not result.get("plans") and result.get("search", {}).get("solver_status") == "TIME_LIMIT":
        return "the search ran out of time before it found any plan: nothing to save (try a longer time limit)"
    return None


def prices_used(result: dict[str, Any]) -> dict[str, Any]:
    """The price per chip-hour, at each plan's pricing, of every chip the result's plans use (as the
    plan's cost states it: the offers behind it are in the saved result), by chip and, where only larger
    instances priced it (a replica of several chips on one node), by that size: one chip's 1-chip and
    8-chip-instance prices differ without anything being repriced."""
    out: dict[str, Any] = {}
    for p in result.get("plans", []):
        mode = p["cost"]["pricing"]
        for source in p["cost"].get("sources", []):
            # (a result saved before instance_chips: its chip alone)
            key = sized_chip(source["hardware"], source.get("instance_chips", 1))
            out.setdefault(mode, {})[key] = source["usd_per_chip_hour"]
    return out
