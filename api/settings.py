"""Service settings (pydantic-settings): environment variables prefixed ``HWPLAN_``.

``HWPLAN_API_KEY`` is the bearer key for catalog writes (recorded in the history as the key
named "default"); ``HWPLAN_API_KEYS`` adds named keys as ``name:key,name:key`` (each change
records the name of the key that made it, never the key or a digest of it). With neither, or
only empty ones, the service refuses catalog edits and deleting saved plans (403); saving a plan
needs no key (recorded as saved by "anonymous").
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HWPLAN_", extra="ignore")

    catalog_dir: Path = Field(default_factory=lambda: Path.home() / ".hwplan" / "catalog",
                              description="Writable catalog directory; initialised from the shipped "
                                          "catalog when missing or empty.")
    database_url: str | None = Field(default=None, description="Saved plans' SQLAlchemy URL (HWPLAN_DATABASE_URL); "
                                                              "default a SQLite file ~/.hwplan/plans.db")
    api_key: SecretStr | None = Field(default=None, description="Bearer key for writes (HWPLAN_API_KEY).")
    api_keys: SecretStr | None = Field(default=None, description="Named bearer keys, name:key,name:key "
                                                                 "(HWPLAN_API_KEYS).")
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1_000_000
    # a request body not all arrived this long after its read began is answered 408 (a slow client holds no read)
    body_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    solver_time_limit_s: Annotated[float, Field(gt=0, le=600)] = 10.0  # default per plan request
    max_solver_time_limit_s: Annotated[float, Field(gt=0, le=600)] = 30.0  # most a request may ask
    # most seconds one fleet request plans in all (its workloads' searches and every schedule solve): each
    # phase gets at most what is left (a 10-workload fleet took 405 s at time_limit_s = 30 without it)
    fleet_deadline_s: Annotated[float, Field(gt=0, le=3600)] = 120.0
    max_top: Annotated[int, Field(ge=1, le=50)] = 20
    max_chips_per_replica: Annotated[int, Field(ge=1, le=256)] = 64
    max_hardware_types: Annotated[int, Field(ge=1, le=4)] = 4
    max_measurements: Annotated[int, Field(ge=1, le=5_000)] = 5000  # (le: api.schemas.MAX_MEASUREMENTS)
    # records under load (server scenario) per /v1/validate request: each runs the queueing model, ~15-45 ms
    # of CPU (3,500 took 154 s), where a static or max-throughput record costs well under 1 ms; a disaggregated
    # pair counts api.routes.validate.PAIR_LOAD (~84 ms)
    max_server_measurements: Annotated[int, Field(ge=1)] = 500
    plan_cache_size: Annotated[int, Field(ge=0)] = 256  # plans per catalog version; 0 = off
    plan_workers: Annotated[int, Field(ge=1, le=256)] = 4  # planning requests computed at once
    plan_queue: Annotated[int, Field(ge=0, le=10_000)] = 16  # more may wait; beyond that: 503
    retry_after_s: Annotated[int, Field(ge=1, le=3600)] = 5  # the 503's Retry-After

    def writer_keys(self) -> dict[str, bytes]:
        """Key name -> key bytes; empty keys are no keys (read-only, as without any)."""
        keys: dict[str, bytes] = {}
        if self.api_key is not None and self.api_key.get_secret_value():
            keys["default"] = self.api_key.get_secret_value().encode()
        if self.api_keys is not None:
            for pair in self.api_keys.get_secret_value().split(","):
                name, sep, key = pair.strip().partition(":")
                if not pair.strip():
                    continue
                if not sep or not name or not key:
                    raise ValueError("HWPLAN_API_KEYS must be name:key pairs separated by commas")
                keys[name] = key.encode()
        return keys
