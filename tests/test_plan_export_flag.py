"""`hwplan plan` says when plan 1 cannot be exported, as `hwplan export` would refuse it.

Basis: the export command itself, run on the same plan document. Two examples' top plans (code-assistant,
long-document-summarizer: fp8 weights on neuronx) are refused by `--format neuron` and by `--format k8s`
for want of a pre-quantised checkpoint; the plan text said nothing of it, so a plan chosen for its cost
was found undeployable only at export. support-chatbot's plan 1 exports (SGLang): no line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from hardware_catalog.export import ExportError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WIDE = {"COLUMNS": "400"}


def _plan_and_export(tmp_path: Path, example: str, fmt: str) -> tuple[str, str | None]:
    """plan 1's text, and the export command's refusal of its JSON in ``fmt`` (None: it exported)."""
    runner = CliRunner()
    path = EXAMPLES / f"{example}.yaml"
    doc = runner.invoke(app, ["plan", str(path), "--json"]).stdout
    (tmp_path / "plan.json").write_text(doc)
    text = runner.invoke(app, ["plan", str(path)], env=WIDE).stdout
    exported = runner.invoke(app, ["export", str(tmp_path / "plan.json"), "--format", fmt, "--workload", str(path)],
                             env=WIDE)
    if exported.exit_code == 0:
        return text, None
    assert isinstance(exported.exception, ExportError), exported.output  # (the console script prints it, exit 2)
    return text, " ".join(str(exported.exception).split())


@pytest.mark.parametrize(("example", "fmt"), [("code-assistant", "neuron")])
def test_an_unexportable_plan_1_says_so_as_export_refuses_it(tmp_path: Path, example: str, fmt: str) -> None:
    """code-assistant's plan 1 is NeuronX FP8: the format's engine is given no pre-quantised checkpoint by the
    catalog, so the export refuses and the plan's text says so. (long-document-summarizer's plan 1 was SGLang FP4 on
    one MI355X, refused so; fp4 there is MXFP4, without a quality claim, and its plan 1 is now SGLang FP8: below.)"""
    text, refused = _plan_and_export(tmp_path, example, fmt)
    assert refused is not None and "pre-quantised checkpoint" in refused
    (line,) = [" ".join(line.split()) for line in text.splitlines() if line.startswith("export:")]
    reason = refused.removeprefix("format: ")
    assert line.startswith(f"export: plan 1 cannot be exported (--format {fmt}: ") and reason in line


@pytest.mark.parametrize("example", ["support-chatbot", "long-document-summarizer"])
def test_an_exportable_plan_1_has_no_export_line(tmp_path: Path, example: str) -> None:
    text, refused = _plan_and_export(tmp_path, example, "sglang")
    assert json.loads((tmp_path / "plan.json").read_text())["plans"][0]["runtime"] == "sglang"
    assert refused is None and not [line for line in text.splitlines() if line.startswith("export")]
