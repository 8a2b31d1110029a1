"""Rendering for people: rich tables, plan and cost views (``--json`` prints the output models instead)."""

__all__ = ["cost_render", "render", "tables"]
