"""hwplan's caches under the user's cache directory, each keyed by what its entries are a function of.

``cache_store`` (where they live, whether they are on, atomic writes, the catalog's content hash),
``compiled`` (the validated catalog), ``compiled_workload`` (validated workload files),
``compiled_code`` (the methods ``dataclasses`` writes), ``cache`` (every candidate row's performance-model
constants, as arrays) and ``answers_cache`` (the capacity answers of ``hwplan plan`` runs). Nothing is
imported here: a command that needs one cache pays for none of the others.
"""

__all__ = ["answers_cache", "cache", "cache_store", "compiled", "compiled_code", "compiled_workload"]
