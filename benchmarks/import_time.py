"""Import and CLI start-up time: `import av_emotion` and `av-emotion --help` against `import transformers`.

Each variant runs in a fresh interpreter (what is imported is the point), interleaved round-robin so slow periods
of a shared machine hit all of them alike; the medians are compared as ratios to `import transformers`, the
goal being at most 1.5x. Also reports the first use that pays for torch (`AutoConfig.for_model("avt_ca")` right
after `import av_emotion`) against `import torch` + `import transformers` + `AutoConfig`, and whether each
variant imported torch.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/import_time.py [--repeats 7]

Writes `benchmarks/results/import_time.{json,md}`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SRC = Path(__file__).resolve().parents[1] / "src"

# name -> code run with `python -c`; each prints whether torch ended up imported.
VARIANTS = {
    "import transformers": "import transformers",
    "import av_emotion": "import av_emotion",
    "av-emotion --help": (
        "import contextlib, io\nfrom av_emotion.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass"
    ),
    "import transformers; AutoConfig (torch)": "from transformers import AutoConfig",
    "import av_emotion; AutoConfig.for_model('avt_ca')": (
        "import av_emotion\nfrom transformers import AutoConfig\nAutoConfig.for_model('avt_ca')"
    ),
}
REFERENCE = "import transformers"
GOAL = 1.5


def time_once(code: str) -> tuple[float, bool]:
    """Wall seconds of a fresh interpreter running `code`, and whether torch was imported."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    probe = f"{code}\nimport sys\nprint('torch' in sys.modules)"
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    elapsed = time.perf_counter() - start
    return elapsed, result.stdout.strip().splitlines()[-1] == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    for code in VARIANTS.values():  # warm the file cache once
        time_once(code)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    torch_loaded: dict[str, bool] = {}
    for _ in range(args.repeats):
        for name, code in VARIANTS.items():
            elapsed, loaded = time_once(code)
            times[name].append(elapsed)
            torch_loaded[name] = loaded
    medians = {name: statistics.median(values) for name, values in times.items()}
    reference = medians[REFERENCE]
    rows = [
        {
            "variant": name,
            "median_s": round(medians[name], 3),
            "ratio_to_import_transformers": round(medians[name] / reference, 2),
            "imports_torch": torch_loaded[name],
            "all_s": [round(value, 3) for value in times[name]],
        }
        for name in VARIANTS
    ]
    ratio_import = medians["import av_emotion"] / reference
    ratio_help = medians["av-emotion --help"] / reference
    summary = {
        "goal": f"import av_emotion and av-emotion --help <= {GOAL}x import transformers; --help without torch",
        "import_av_emotion_ratio": round(ratio_import, 2),
        "cli_help_ratio": round(ratio_help, 2),
        "goal_met": ratio_import <= GOAL and ratio_help <= GOAL and not torch_loaded["av-emotion --help"],
        "repeats": args.repeats,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "import_time.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n")
    lines = [
        f"# Import time (fresh interpreter each, medians of {args.repeats}, interleaved)",
        "",
        "| variant | median s | ratio to `import transformers` | imports torch |",
        "|---|---|---|---|",
        *[
            f"| `{row['variant']}` | {row['median_s']:.2f} | {row['ratio_to_import_transformers']:.2f}x | "
            f"{'yes' if row['imports_torch'] else 'no'} |"
            for row in rows
        ],
        "",
        f"Goal (<= {GOAL}x, `--help` without torch): {'met' if summary['goal_met'] else 'MISSED'}. "
        f"Load average {summary['load_average']}, {summary['date']}.",
    ]
    (RESULTS / "import_time.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
