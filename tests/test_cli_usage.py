"""Every way to misuse the CLI is one error line naming the option or field and exit code 2, never a
traceback; `plan` exits 1 when nothing fits (README "Exit codes"). Each case runs the real entry
point as a subprocess, as a shell script would see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EST = ("estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm")
EXAMPLE = str(ROOT / "examples" / "support-chatbot.yaml")

# name -> (arguments, a word the one error line must contain)
USAGE_ERRORS = {
    "unknown_option": (("catalog", "list", "--colour"), "--colour"),
    "unknown_command": (("plot",), "plot"),
    "missing_argument": (("plan",), "workload"),
    "missing_option": (("estimate", "--model", "llama-3.1-8b"), "--hardware"),
    "option_without_value": ((*EST, "--tp"), "--tp"),
    "top_zero": (("plan", EXAMPLE, "--top", "0"), "--top"),
    "top_not_a_number": (("plan", EXAMPLE, "--top", "many"), "--top"),
    "time_limit_too_small": (("plan", EXAMPLE, "--time-limit", "0.1"), "--time-limit"),
    "time_limit_too_large": (("plan", EXAMPLE, "--time-limit", "601"), "from 0.5 to 600 seconds"),
    # a range check alone answered nan with "should be less than or equal to 600" (nan compares false)
    "time_limit_nan": (("plan", EXAMPLE, "--time-limit", "nan"), "'--time-limit': must be a finite number"),
    "replan_time_limit_inf": (("replan", "p1", "--time-limit", "inf"), "'--time-limit': must be a finite number"),
    "fleet_deadline_nan": (("plan-fleet", str(ROOT / "examples" / "fleet" / "fleet.yaml"), "--deadline", "nan"),
                           "'--deadline': must be a finite number"),
    "bad_objective": (("plan", EXAMPLE, "--objective", "speed"), "--objective"),
    "save_with_server": (("plan", EXAMPLE, "--save", "--server", "http://127.0.0.1:9"), "save"),
    "bad_scenario": ((*EST, "--scenario", "peak"), "scenario"),
    "bad_pricing": ((*EST, "--pricing", "free"), "pricing"),
    "float_for_int": ((*EST, "--batch", "2.5"), "--batch"),
    "missing_file": (("plan", "no-such-workload.yaml"), "no-such-workload.yaml"),
    "missing_measurements": (("validate", "no-such-file.yaml"), "no-such-file.yaml"),
    "unknown_kind": (("catalog", "list", "chips"), "kind"),
    "unknown_id": (("catalog", "show", "h900"), "id"),
    "unknown_schema": (("schema", "plans"), "name"),
    "version_with_value": (("--version=yes",), "--version"),
    "unknown_model": (("estimate", "--model", "llama-9", "--hardware", "h100-sxm"), "model"),
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False, timeout=120)


@pytest.mark.parametrize("name", list(USAGE_ERRORS))
def test_usage_error_is_one_line_and_exit_2(name: str) -> None:
    args, word = USAGE_ERRORS[name]
    proc = _run(*args)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and word in lines[0], lines[0]
    assert proc.stdout == ""


def test_version() -> None:
    proc = _run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("hwplan ")


def test_help_lists_completion_and_version() -> None:
    proc = _run("--help")
    assert proc.returncode == 0
    assert "--install-completion" in proc.stdout and "--version" in proc.stdout


def test_infeasible_plan_exits_1_with_its_reasons() -> None:
    proc = _run("plan", str(ROOT / "examples" / "infeasible.yaml"), "--json", "--time-limit", "5")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["plans"] == [] and doc["infeasible"]["reasons"]


def test_scenarios_named_in_the_cli_are_the_models() -> None:
    from cli.commands.estimate_cmd import SCENARIOS
    from planner.model.estimate import Scenario

    assert set(SCENARIOS) == {str(s) for s in Scenario}


@pytest.mark.parametrize("name", ["workload", "catalog-hardware", "catalog-model", "plan", "estimate",
                                  "finetune", "validation", "calibration", "levers"])
def test_schema_prints_a_json_schema(name: str) -> None:
    proc = _run("schema", name)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema.get("type") in {"object", "array"} and ("properties" in schema or "items" in schema)


def test_estimate_schema_describes_what_estimate_prints() -> None:
    """The printed document validates against the printed schema; an extra key does not."""
    import jsonschema_rs  # schemathesis's validator

    schema = json.loads(_run("schema", "estimate").stdout)
    doc = json.loads(_run(*EST, "--scenario", "server", "--request-rate", "2", "--json").stdout)
    validator = jsonschema_rs.validator_for(schema)
    validator.validate(doc)
    assert not validator.is_valid({**doc, "surprise": 1})
    assert not validator.is_valid({**doc, "memory": {**doc["memory"], "surprise": 1}})


def test_every_command_is_routed_to_the_module_that_registers_it() -> None:
    """cli.main imports only the module of the command a command line names (start-up time): the
    table must name, for every command of the whole app, the module whose function runs it."""
    import typer.main

    from cli.main import _ORDER, COMMAND_MODULES, app

    registering = {".".join(path.relative_to(ROOT / "cli").with_suffix("").parts)
                   for path in (ROOT / "cli").rglob("*.py")
                   if any(f"{name}.command(" in path.read_text() or f"{name}.add_typer(" in path.read_text()
                          for name in ("app", "catalog_app", "cache_app", "prices_app"))} - {"app"}
    assert registering == set(_ORDER)  # a new command module must be listed to be registered at all
    group = typer.main.get_group(app)
    assert set(group.commands) == set(COMMAND_MODULES)
    for name, command in group.commands.items():
        subcommands = getattr(command, "commands", None)
        callbacks = [c.callback for c in subcommands.values()] if subcommands else [command.callback]
        modules = {getattr(cb, "__wrapped__", cb).__module__ for cb in callbacks if cb is not None}
        assert modules == {f"cli.{COMMAND_MODULES[name]}"}, name


def test_a_command_line_imports_only_its_command_module() -> None:
    code = ("import sys; from cli.main import register; register(['plan', 'x.yaml', '--json']); "
            "print(sorted(m for m in sys.modules if m.startswith('cli.') and m.endswith(('_cmd', '_cmds'))))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['cli.commands.plan_cmd']"  # (the --server option lives in cli.app, not serve_cmd)


def test_plan_text_on_a_compiled_workload_reads_no_yaml_schema(tmp_path: Path) -> None:
    """``hwplan plan`` as text, once the catalog and the workload are compiled, checks plan 1's export against the
    workload the search read: neither the workload schema nor the catalog loader (the schema and the price
    files ride with it) is imported again, ~45 ms of a ~300 ms command. code-assistant's plan 1 is refused,
    so the export check does run."""
    code = ("import atexit, sys; from cli.main import main; "
            "atexit.register(lambda: print('MODULES', ' '.join(sorted(sys.modules)), file=sys.stderr)); "
            f"main(['plan', {str(ROOT / 'examples' / 'code-assistant.yaml')!r}])")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HWPLAN_CACHE_DIR": str(tmp_path), "COLUMNS": "300"}
    env.pop("HWPLAN_NO_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[-1].stderr
    assert "export: plan 1 cannot be exported" in " ".join(runs[1].stdout.split())
    (line,) = [line for line in runs[1].stderr.splitlines() if line.startswith("MODULES ")]
    loaded = set(line.split()[1:])
    assert "hardware_catalog.export" in loaded
    assert not loaded & {"hardware_catalog.inputs.workload", "hardware_catalog.loader", "hardware_catalog.schema"}
