"""Sweeps on Ray: the same rows on 1 and 2 workers as the sequential planner.plan loop; a failed
scenario is a row and does not stop the sweep; a second run resumes from the file.

One local Ray (2 CPUs) for the whole module; its start-up (a few seconds) is paid once.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from planner.domain import Catalog
from planner.fleet.sweep import Scenario, Sweep, priced, scenarios
from planner.search.planning import plan
from planner.workload import Constraints, Slo, Tokens, Traffic, Workload

ray = pytest.importorskip("ray")

BASE = Workload(name="sw", traffic=Traffic(requests_per_s=3.0, peak_requests_per_s=6.0, input_tokens=Tokens(500, 1500),
                                           output_tokens=Tokens(150, 400)),
                slo=Slo(targets={"ttft_ms": {99: 2000.0}, "tpot_ms": {99: 100.0}}),
                constraints=Constraints(hardware=("l40s", "a100-80gb", "h100-sxm"), max_hardware_types=1))
AXES = {"traffic_scale": (0.5, 2.0), "price_scale": (0.8, 1.0),
        "models": (None, ("no-such-model",), ("qwen2.5-1.5b",))}
SWEEP = Sweep(name="t", base=BASE, axes=AXES, time_limit_s=20.0)
COMPARED = ("scenario", "status", "cost_per_month", "model", "precision", "runtime", "hardware", "replicas", "chips")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    from cli.commands.sweep_runner import _ray

    started = not ray.is_initialized()
    _ray(2)
    yield
    if started:
        ray.shutdown()


def _key(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return sorted(tuple(str(r[f]) for f in COMPARED) for r in rows)


def _sequential(catalog: Catalog, todo: list[Scenario]) -> list[dict[str, Any]]:
    """Plain planner.plan calls, one per scenario, with the values applied by hand."""
    rows = []
    for sc in todo:
        v = sc.values
        k = v["traffic_scale"]
        w = Workload(name="sw", traffic=Traffic(requests_per_s=3.0 * k, peak_requests_per_s=6.0 * k,
                                                input_tokens=Tokens(500, 1500), output_tokens=Tokens(150, 400)),
                     slo=BASE.slo, constraints=BASE.constraints)
        if v["models"] is not None:
            w = replace(w, constraints=replace(w.constraints, models=tuple(v["models"])))
        row: dict[str, Any] = {"scenario": sc.id}
        try:
            result = plan(w, priced(catalog, v["price_scale"]), top=1, time_limit_s=20.0, explain=False)
        except Exception:  # noqa: BLE001
            rows.append({**row, **dict.fromkeys(COMPARED[1:], ""), "status": "error"})
            continue
        p = result.plans[0]
        rows.append({**row, "status": "ok", "cost_per_month": round(p.cost.per_month, 4), "model": p.model,
                     "precision": p.precision, "runtime": p.runtime, "hardware": " ".join(sorted(p.hardware_types)),
                     "replicas": sum(d.replicas for d in p.deployments),
                     "chips": sum(d.replicas * d.chips_per_replica for d in p.deployments)})
    return rows


def test_sweep_on_1_and_2_workers_matches_the_sequential_loop(catalog: Catalog, tmp_path: Path,
                                                              local_ray: None) -> None:
    from cli.commands.sweep_runner import read_rows, run_sweep

    todo = scenarios(SWEEP)
    assert len(todo) == 12
    expected = _key(_sequential(catalog, todo))
    for workers in (1, 2):
        out = tmp_path / f"w{workers}.csv"
        rows = run_sweep(SWEEP, catalog, out, workers=workers)
        assert len(rows) == 12
        assert _key(read_rows(out)) == expected
    failed = [r for r in read_rows(tmp_path / "w2.csv") if r["status"] == "error"]
    assert len(failed) == 4 and all("no-such-model" in r["error"] for r in failed)  # reported, sweep went on


def test_a_sweep_resumes_from_its_file(catalog: Catalog, tmp_path: Path, local_ray: None) -> None:
    from cli.commands.sweep_runner import read_rows, run_sweep

    small = Sweep(name="r", base=BASE, axes={"traffic_scale": (0.5, 1.0, 2.0, 4.0)}, time_limit_s=20.0)
    out = tmp_path / "r.csv"
    first = run_sweep(small, catalog, out, workers=2)
    # cut the file after two rows, as if the sweep had been interrupted
    with out.open() as fh:
        lines = fh.readlines()
    out.write_text("".join(lines[:3]))
    kept = {int(r["scenario"]) for r in read_rows(out)}
    second = run_sweep(small, catalog, out, workers=2, chunk=2)
    assert {int(r["scenario"]) for r in second} == {0, 1, 2, 3} - kept
    rows = read_rows(out)
    assert sorted(int(r["scenario"]) for r in rows) == [0, 1, 2, 3]
    assert _key(rows) == _key([{k: str(v) for k, v in r.items()} for r in first])
    assert run_sweep(small, catalog, out, workers=2) == []  # nothing left to do
    with out.open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 4


def test_a_file_of_another_sweep_is_not_resumed(catalog: Catalog, tmp_path: Path, local_ray: None) -> None:
    # ids number the axes' product: another sweep's scenario 0 is traffic 0.5, this one's 2.0; resuming read
    # the old rows as this sweep's and planned nothing
    from cli.commands.sweep_runner import run_sweep
    from planner.errors import InputError

    out = tmp_path / "s.csv"
    run_sweep(Sweep(name="a", base=BASE, axes={"traffic_scale": (0.5,)}, time_limit_s=20.0), catalog, out, workers=1)
    with pytest.raises(InputError, match=r"traffic_scale = '0.5' there and 2.0 in this sweep"):
        run_sweep(Sweep(name="b", base=BASE, axes={"traffic_scale": (2.0, 4.0)}, time_limit_s=20.0), catalog, out,
                  workers=1)


def test_the_summary_orders_numbers_by_value() -> None:
    from planner.fleet.sweep import summarise

    rows = [{"traffic_scale": v, "status": "ok", "cost_per_month": "1"} for v in ("1.0", "10.0", "2.0")]
    assert [value for value, *_ in summarise(rows, "traffic_scale")] == ["1.0", "2.0", "10.0"]


def _sweep_file(tmp_path: Path, axes: str) -> Path:
    workload = Path(__file__).resolve().parents[1] / "examples" / "support-chatbot.yaml"
    path = tmp_path / "s.yaml"
    path.write_text(f"name: bad\nworkload: {workload}\naxes:\n{axes}\ntime_limit_s: 5\n", encoding="utf-8")
    return path


def test_a_sweep_of_only_failed_scenarios_is_an_error(tmp_path: Path, hwplan: Any, local_ray: None) -> None:
    """Every scenario named an unknown chip: the sweep printed eight failures and exited 0. Such ids are now
    refused before any scenario runs (``check_ids``), naming the first; exit 2 either way."""
    code, _out, err = hwplan("sweep", str(_sweep_file(tmp_path, "  exclude_hardware: [[h999], [h998]]")),
                             "--out", str(tmp_path / "o.csv"), "--workers", "1")
    assert code == 2 and "axes.exclude_hardware.0.0" in err and "h999" in err, err


@pytest.mark.parametrize("where", ["dir", "missing"])
def test_an_out_that_cannot_be_written_is_refused_before_any_scenario(tmp_path: Path, hwplan: Any,
                                                                       where: str) -> None:
    """A directory, or a folder that does not exist, failed only after Ray had started (~8 s, among its logs)."""
    out = tmp_path if where == "dir" else tmp_path / "nowhere" / "o.csv"
    code, _out, err = hwplan("sweep", str(_sweep_file(tmp_path, "  traffic_scale: [1.0]")), "--out", str(out))
    assert code == 2 and err.startswith("error: --out: ") and err.strip().count("\n") == 0, err


# --- resuming, from a hostile test of the sweep (each fails without its fix) -----------------------------------

def test_a_sweep_with_a_null_models_value_resumes(catalog: Catalog, tmp_path: Path, local_ray: None) -> None:
    """docs/fleet.md's `models: [null, [...]]`: the CSV writes null as an empty cell, which the resume check
    read as another value: the second run refused its own file."""
    from cli.commands.sweep_runner import run_sweep

    s = Sweep(name="n", base=BASE, axes={"models": (None, ("qwen2.5-1.5b",))}, time_limit_s=20.0)
    out = tmp_path / "n.csv"
    assert len(run_sweep(s, catalog, out, workers=1)) == 2
    assert run_sweep(s, catalog, out, workers=1) == []


def test_a_sweep_of_another_base_over_the_same_axes_is_not_resumed(catalog: Catalog, tmp_path: Path,
                                                                    local_ray: None) -> None:
    """The rows' axis values matched, so another workload's costs were reported as this one's."""
    from cli.commands.sweep_runner import run_sweep
    from planner.errors import InputError

    out = tmp_path / "b.csv"
    run_sweep(Sweep(name="a", base=BASE, axes={"traffic_scale": (0.5,)}, time_limit_s=20.0), catalog, out, workers=1)
    other = replace(BASE, traffic=replace(BASE.traffic, requests_per_s=1.0, peak_requests_per_s=2.0))
    for changed in (Sweep(name="a", base=other, axes={"traffic_scale": (0.5,)}, time_limit_s=20.0),
                    Sweep(name="a", base=BASE, axes={"traffic_scale": (0.5,)}, time_limit_s=5.0)):
        with pytest.raises(InputError, match="base workload or fleet, time limit"):
            run_sweep(changed, catalog, out, workers=1)


def test_a_row_cut_off_mid_write_runs_again(catalog: Catalog, tmp_path: Path, local_ray: None) -> None:
    """A torn last line (a kill or a full disk mid-write) was read as a finished row and the next row glued
    onto it: a scenario lost and a row corrupt."""
    from cli.commands.sweep_runner import read_rows, run_sweep

    s = Sweep(name="t", base=BASE, axes={"traffic_scale": (0.5, 1.0)}, time_limit_s=20.0)
    out = tmp_path / "t.csv"
    run_sweep(s, catalog, out, workers=1)
    whole = out.read_text()
    out.write_text(whole[:len(whole) - 10])  # the last row without its end
    again = run_sweep(s, catalog, out, workers=1)
    assert len(again) == 1
    rows = read_rows(out)
    assert sorted(int(r["scenario"]) for r in rows) == [0, 1] and all(r["status"] == "ok" for r in rows)


def test_an_out_of_another_format_is_refused_before_any_scenario(catalog: Catalog, tmp_path: Path,
                                                                  local_ray: None) -> None:
    """Rows were appended under the file's own header, then a traceback after the whole run."""
    from cli.commands.sweep_runner import run_sweep
    from planner.errors import InputError

    out = tmp_path / "other.csv"
    out.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(InputError, match="not a sweep's CSV"):
        run_sweep(Sweep(name="o", base=BASE, axes={"traffic_scale": (1.0,)}, time_limit_s=20.0), catalog, out)
    assert out.read_text() == "a,b,c\n1,2,3\n"


def test_a_fleet_scenario_out_of_time_is_a_timeout_not_infeasible(catalog: Catalog) -> None:
    """plan_fleet's TIME_LIMIT / UNKNOWN (no schedule within the time) was written as `infeasible`, with no
    reason: a what-if user concluded the scenario cannot be served."""
    from hardware_catalog.inputs.fleet import load_fleet
    from planner.fleet.sweep import run_scenario

    fleet, _ = load_fleet(Path(__file__).resolve().parents[1] / "examples" / "fleet" / "fleet.yaml")
    s = Sweep(name="f", base=fleet, axes={"traffic_scale": (1.0,)}, time_limit_s=0.001)
    (sc,) = scenarios(s)
    row = run_scenario(s, sc, catalog)
    assert row["status"] == "timeout" and row["error"], row


def test_an_unknown_id_in_an_axis_is_refused_before_any_scenario(tmp_path: Path, hwplan: Any) -> None:
    """It was found per scenario, after the workers started: one good value beside it and the sweep exited 0
    with half its rows errors."""
    root = Path(__file__).resolve().parents[1]
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"name: s\nworkload: {root / 'examples' / 'support-chatbot.yaml'}\n"
                     "axes:\n  exclude_hardware: [[], [nosuchchip]]\n")
    code, _out, err = hwplan("sweep", str(sweep), "--out", str(tmp_path / "o.csv"), "--workers", "1")
    assert code == 2 and "axes.exclude_hardware.1.0" in err and "nosuchchip" in err, err
    assert not (tmp_path / "o.csv").exists()
