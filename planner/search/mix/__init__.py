"""Integer replica mixes: how many replicas of which shapes carry a plan key's peak load at least cost.

``solver`` (``solve_mix``: quotas, budget, hardware types, spares), answered first by the exact branch
and bound over integer replica counts (``exact_mix``), CP-SAT past its node limit, written straight
into its proto (``cp_proto``).
"""

__all__ = ["cp_proto", "exact_mix", "solver"]
