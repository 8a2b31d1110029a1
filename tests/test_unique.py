"""planner.unique.distinct against numpy's own np.unique, and the import it exists to avoid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from planner.unique import distinct

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
def test_distinct_equals_np_unique(n: int) -> None:
    rng = np.random.default_rng(n)
    for high in (1, 3, 50, 10**9):
        values = rng.integers(-high, high + 1, size=n)
        got = distinct(values)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, np.unique(values))


def test_distinct_flattens() -> None:
    np.testing.assert_array_equal(distinct(np.array([[3, 1], [3, 2]])), [1, 2, 3])


def test_plans_do_not_import_numpy_ma() -> None:
    """A plan (and its explanation) in a fresh process leaves numpy.ma unimported (np.unique would import it)."""
    code = ("import sys\nfrom hardware_catalog import load_catalog\n"
            "from hardware_catalog.inputs.workload import load_workload\n"
            "from planner.search.planning import plan\n"
            "c = load_catalog()\n"
            f"plan(load_workload({str(ROOT / 'examples' / 'support-chatbot.yaml')!r}), c)\n"
            "print('numpy.ma' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "HWPLAN_NO_CACHE": "1", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip().splitlines()[-1] == "False"
