"""Names users write are printed as written: the text output runs through rich, which reads ``[...]`` as
markup. A workload or fleet named ``chat [v2] x[/bold]`` crashed ``hwplan plan`` and ``hwplan plan-fleet``
with rich's MarkupError after the search (its result lost), and ``summarizer [v2]`` printed as
``summarizer :`` (the ``[v2]`` read as a tag and dropped). Found by a hostile user test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NAME = "chat [v2] x[/bold]"


def test_a_workload_name_with_brackets_prints_as_written(tmp_path: Path,
                                                          hwplan: Callable[..., tuple[int, str, str]]) -> None:
    data = yaml.safe_load((ROOT / "examples" / "support-chatbot.yaml").read_text())
    data["name"] = NAME
    data["constraints"].update(models=["llama-3.1-8b"], hardware=["l4"], runtimes=["vllm"])
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(data))
    code, out, err = hwplan("plan", str(path), "--top", "1")
    assert code in (0, 1), err
    assert NAME in " ".join(out.split()), out[:300]


def test_a_fleet_and_its_workloads_named_with_brackets_print_as_written(
        tmp_path: Path, hwplan: Callable[..., tuple[int, str, str]]) -> None:
    data = yaml.safe_load((ROOT / "examples" / "fleet" / "lora-pool.yaml").read_text())
    data["name"] = NAME
    old = data["workloads"][0]["name"]
    data["workloads"][0]["name"] = "summarizer [v2]"
    for group in data.get("shared", []):
        group["workloads"] = ["summarizer [v2]" if n == old else n for n in group["workloads"]]
    for w in data["workloads"]:
        if isinstance(w.get("workload"), str):
            w["workload"] = str((ROOT / "examples" / "fleet" / w["workload"]).resolve())
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(data))
    code, out, err = hwplan("plan-fleet", str(path), "--time-limit", "2")
    assert code in (0, 1, 3), err
    text = " ".join(out.split())
    assert NAME in text and "summarizer [v2]" in text, out[:400]
