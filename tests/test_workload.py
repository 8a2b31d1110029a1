"""The workload file: every shipped example loads; bad files fail naming the field; the plan CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hardware_catalog.inputs.workload import load_workload
from planner.domain import Catalog
from planner.errors import CatalogError, InputError
from planner.search.planning import plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
GOOD = {
    "name": "t",
    "traffic": {"requests_per_s": 10, "peak_requests_per_s": 20,
                "input_tokens": {"mean": 600, "p95": 2000}, "output_tokens": {"mean": 200}},
    "slo": {"ttft_ms": {"p99": 1500}, "e2e_ms": {"p50": 9000, "p95": 20000}},
    "budget": {"max_cost_per_month": 50000},
    "quality": {"min_score": 60},
    "constraints": {"hardware": ["l40s"], "quotas": {"l40s": 8}},
}


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_loads(path: Path) -> None:
    w = load_workload(path)
    assert w.traffic.peak >= w.traffic.requests_per_s > 0


def test_a_good_file_converts_to_the_domain_workload(tmp_path: Path) -> None:
    w = load_workload(_write(tmp_path, GOOD))
    assert w.traffic.peak == 20.0
    assert (w.traffic.input_tokens.mean, w.traffic.input_tokens.p95) == (600.0, 2000.0)
    assert w.traffic.output_tokens.p95 is None
    assert w.slo.items() == [("ttft_ms", 99, 1500.0), ("e2e_ms", 50, 9000.0), ("e2e_ms", 95, 20000.0)]
    assert w.constraints.hardware == ("l40s",)
    assert dict(w.constraints.quotas) == {"l40s": 8}
    assert w.constraints.max_hardware_types == 2  # the default


def _with(path: tuple[str, ...], value: object) -> dict[str, object]:
    data = json.loads(json.dumps(GOOD))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data  # type: ignore[no-any-return]


@pytest.mark.parametrize(("path", "value", "field", "words"), [
    (("trafic",), {}, "trafic", "unknown field"),
    (("slo", "ttft_ms", "p99.9"), 10, "slo.ttft_ms.p99.9", ""),
    (("traffic", "requests_per_s"), -5, "traffic.requests_per_s", "greater than or equal to 0.000001"),
    (("traffic", "peak_requests_per_s"), 5, "traffic", "peak_requests_per_s must be at least"),
    (("traffic", "input_tokens", "p95"), 100, "traffic.input_tokens", "p95 must be at least the mean"),
    (("slo", "tpot_ms"), {"p99": 0}, "slo.tpot_ms.p99", "greater than 0"),
    (("constraints", "pricing"), "cheap", "constraints.pricing", ""),
    (("constraints", "max_hardware_types"), 0, "constraints.max_hardware_types", ""),
    (("quality", "min_score"), 101, "quality.min_score", ""),
])
def test_a_bad_file_names_the_field(tmp_path: Path, path: tuple[str, ...], value: object,
                                    field: str, words: str) -> None:
    with pytest.raises(CatalogError) as info:
        load_workload(_write(tmp_path, _with(path, value)))
    assert info.value.field is not None and info.value.field.startswith(field)
    assert words in info.value.message
    assert str(tmp_path / "w.yaml") in info.value.message


@pytest.mark.parametrize(("written", "value"), [("1e1", 10.0), ("1.0e1", 10.0), ("1E+1", 10.0), ("0.1e2", 10.0),
                                                ("10", 10.0), ("1.0e+1", 10.0)])
def test_a_number_in_exponent_form_is_a_number(tmp_path: Path, written: str, value: float) -> None:
    """YAML 1.2 reads 1e1 and 1.0e1 as numbers; PyYAML (YAML 1.1) read them as the text '1e1', which the
    workload then refused as "Input should be a valid number" although the same value in JSON was taken."""
    text = yaml.safe_dump(_with(("traffic", "requests_per_s"), "@")).replace("'@'", written)
    path = tmp_path / "w.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_workload(path).traffic.requests_per_s == value


@pytest.mark.parametrize("digits", [4_301, 5_000, 100_000])
def test_an_integer_of_thousands_of_digits_is_refused_naming_the_field(tmp_path: Path, digits: int) -> None:
    """Python refuses to read a decimal integer past 4,300 digits; the message was its own ("Exceeds the limit
    (4300 digits) for integer string conversion ... use sys.set_int_max_str_digits()"), naming no field."""
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(_with(("traffic", "requests_per_s"), "@")).replace("'@'", "9" * digits),
                    encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_workload(path)
    assert info.value.field == "traffic.requests_per_s", info.value.message
    assert "digits" not in info.value.message and "finite" in info.value.message


@pytest.mark.parametrize(("constraint", "value", "field"), [
    ("hardware", ["h100-sxm", "no-such-chip"], "constraints.hardware.1"),
    ("exclude_hardware", ["no-such-chip"], "constraints.exclude_hardware.0"),
    ("quotas", {"l4": 2, "no-such-chip": 4}, "constraints.quotas.no-such-chip"),  # a map: named by its key
    ("pricing", {"mode": "owned", "owned": {"chips": {"no-such-chip": {"pue": 1.2}}}},
     "constraints.pricing.owned.chips.no-such-chip"),
    ("models", ["gpt-5"], "constraints.models.0"),
])
def test_an_unknown_id_in_the_constraints_names_the_field(tmp_path: Path, catalog: Catalog,
                                                          constraint: str, value: object, field: str) -> None:
    w = load_workload(_write(tmp_path, _with(("constraints", constraint), value)))
    with pytest.raises(InputError) as info:
        plan(w, catalog)
    assert info.value.field == field
    assert "no-such-chip" in info.value.message or "gpt-5" in info.value.message


def test_a_model_alias_in_the_constraints_plans_that_model(tmp_path: Path, catalog: Catalog) -> None:
    # `hwplan estimate --model gemma-2-27b-it` takes the alias; a workload's models list does too
    alias, model = "llama-3.2-1b-instruct", "llama-3.2-1b"
    assert alias in catalog.models[model].aliases
    data = _with(("constraints", "models"), [alias])
    data.pop("quality", None)  # (the example's floor is above a 1B model's score)
    w = load_workload(_write(tmp_path, data))
    result = plan(w, catalog, top=1, explain=False)
    assert result.plans and {p.model for p in result.plans} == {model}


def test_cli_plan_json_on_an_infeasible_workload_exits_1(tmp_path: Path,
                                                         hwplan: Callable[..., tuple[int, str, str]]) -> None:
    # examples/infeasible.yaml narrowed to one chip, runtime and model so the explanation's
    # re-solves stay quick (tests/test_planner.py checks the relaxations themselves)
    data = yaml.safe_load((EXAMPLES / "infeasible.yaml").read_text(encoding="utf-8"))
    data["constraints"].update(hardware=["b200"], runtimes=["sglang"], models=["qwen3-30b-a3b"])
    code, out, err = hwplan("plan", str(_write(tmp_path, data)), "--json")
    assert code == 1, err  # README "Exit codes": no plan fits; the document still says why
    result = json.loads(out)
    assert result["plans"] == []
    assert result["infeasible"]["reasons"]
    for relaxation in result["infeasible"]["relaxations"]:
        assert set(relaxation) == {"constraint", "needed", "value"}
    assert result["search"]["solver_status"]


def test_cli_plan_on_a_bad_file_exits_2_with_one_line(tmp_path: Path,
                                                      hwplan: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = hwplan("plan", str(_write(tmp_path, _with(("traffic", "requests_per_s"), -1))))
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "traffic.requests_per_s" in err


def test_a_misspelt_required_field_is_named_as_misspelt(tmp_path: Path) -> None:
    """`request_per_s:` was reported only as `traffic.requests_per_s: field required`, the key the user wrote never
    named; a missing required field beside an unknown one in the same mapping names both."""
    path = tmp_path / "w.yaml"
    path.write_text("name: t\ntraffic:\n  request_per_s: 5\n  input_tokens: {mean: 500}\n"
                    "  output_tokens: {mean: 200}\n")
    with pytest.raises(CatalogError) as exc:
        load_workload(path)
    assert exc.value.field == "traffic.request_per_s"
    assert "unknown field" in str(exc.value) and "'requests_per_s'" in str(exc.value)


def test_a_tab_in_the_indentation_is_named(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("name: t\ntraffic:\n\trequests_per_s: 5\n")
    with pytest.raises(CatalogError, match="a tab: YAML indents with spaces only"):
        load_workload(path)


@pytest.mark.parametrize(("kind", "typo", "meant"), [("hardware", "h100sxm", "h100-sxm"),
                                                      ("model", "llama3.1-8b", "llama-3.1-8b")])
def test_an_unknown_id_suggests_the_closest_spelling(catalog: Catalog, kind: str, typo: str, meant: str) -> None:
    """Ids were suggested only when the first dash-part matched: 'h100sxm' got no hint."""
    get = catalog.get_hardware if kind == "hardware" else catalog.get_model
    with pytest.raises(InputError, match=f"did you mean [^?]*{meant}"):
        get(typo)
