"""benchmarks/models.py and benchmarks/memory.py write their tables with the machine and threads (no timing)."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_models_report_writes_tables_with_machine_and_threads(tmp_path, capsys):
    models = load("models")
    models.TABLES.clear()
    models.report("section A", ["variant", "clips/s"], [["batched", 12.5], ["per-sample", 4.0]], ["note: x"])
    models.report("section B", [], [], ["skipped: no CUDA device"])
    models.write_results(tmp_path, models.environment(torch.device("cpu"), repeats=3))
    printed = capsys.readouterr().out
    assert "### section A" in printed and "| batched | 12.5 |" in printed
    record = json.loads((tmp_path / "models.json").read_text())
    env = record["environment"]
    assert env["cpu_count"] and env["cpu_model"] and env["torch_threads"] == torch.get_num_threads()
    assert "omp_num_threads" in env and len(env["load_average_end"]) == 3 and env["repeats"] == 3
    assert [t["title"] for t in record["tables"]] == ["section A", "section B"]
    assert record["tables"][0]["rows"] == [["batched", 12.5], ["per-sample", 4.0]]
    text = (tmp_path / "models.md").read_text()
    assert env["cpu_model"] in text and f"torch threads {env['torch_threads']}" in text
    assert "| per-sample | 4.0 |" in text and "skipped: no CUDA device" in text


def test_interleaved_timing_rotates_the_order():
    models = load("models")
    calls = []
    tasks = {name: (lambda name=name: calls.append(name)) for name in ("a", "b", "c")}
    models.time_interleaved(tasks, repeats=3, device=torch.device("cpu"), warmup=0)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]


def test_memory_report_ratio_and_goal(tmp_path):
    memory = load("memory")
    mib = 2**20

    def run(preset, length, peak, before):
        shapes = {"input_features": [1, 64, 100]}
        return {"preset": preset, "length_s": length, "rss_peak": peak * mib, "rss_before": before * mib,
                "tracemalloc_peak": 5 * mib, "seconds": 1.0, "shapes": shapes}  # fmt: skip

    rows = [run("flat", 60.0, 1000, 990), run("flat", 600.0, 1010, 990), run("grows", 600.0, 1500, 1000)]
    rows.append(run("grows", 60.0, 1100, 1000))
    env = {"date_utc": "d", "command": "c", "cpu_model": "cpu", "cpu_count": 2, "torch_threads": 1,
           "omp_num_threads": "1", "load_average_start": [1.0, 1.0, 1.0], "torch": "t", "pyav": "p"}  # fmt: skip
    text = memory.write_results(tmp_path, env, rows, [60.0, 600.0])
    lines = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "| 1.01x |" in lines["flat"] and lines["flat"].endswith("| yes |")
    assert f"| {1500 / 1100:.2f}x |" in lines["grows"] and lines["grows"].endswith("| no |")
    record = json.loads((tmp_path / "memory.json").read_text())
    assert record["environment"]["cpu_model"] == "cpu" and len(record["runs"]) == 4


@pytest.mark.slow
def test_memory_child_measures_one_preset(tmp_path):
    memory = load("memory")
    video = memory.write_video(tmp_path / "v.mp4", 3.0)
    figures = memory.measure("cpu_small", video, video)
    assert figures["rss_peak"] >= figures["rss_before"] > 0
    assert figures["shapes"]["pixel_values_videos"][:2] == [1, 8]
