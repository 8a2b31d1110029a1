"""hwplan's REST service: FastAPI over the planner and a writable, versioned catalog.

``create_app(settings)`` builds the application; nothing happens at import time.
"""

from api.app import create_app
from api.settings import Settings

__all__ = ["Settings", "create_app"]
