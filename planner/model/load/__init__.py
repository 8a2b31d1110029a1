"""The model under load: continuous batching as a Markov chain (``queueing``), the serving iteration
cost and overlap (``scheduler``), the TPOT tail and the quantile helpers it needs, and the discrete-event
simulation the chain is checked against (``simulate``)."""

__all__ = ["gamma_mixture", "normal", "queueing", "scheduler", "simulate", "tpot_tail"]
