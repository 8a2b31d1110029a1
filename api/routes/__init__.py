"""One router per resource."""

from api.routes import catalog, estimate, examples, fleets, health, metrics, plans, validate, web

__all__ = ["catalog", "estimate", "examples", "fleets", "health", "metrics", "plans", "validate", "web"]
