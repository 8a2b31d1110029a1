"""One router per resource."""

from api.routes import catalog, estimate, health, metrics, plans, validate

__all__ = ["catalog", "estimate", "health", "metrics", "plans", "validate"]
