"""One router per resource."""

from api.routes import catalog, estimate, examples, health, metrics, plans, validate, web

__all__ = ["catalog", "estimate", "examples", "health", "metrics", "plans", "validate", "web"]
