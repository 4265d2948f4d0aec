"""`accelerate launch` command lines for the multi-process tests (explicit flags: no accelerate config file needed).

Two CPU processes need `ACCELERATE_USE_CPU=true` in the environment with `--multi_gpu` (README, "Several
processes"); the callers set it.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

ACCELERATE = Path(sys.executable).with_name("accelerate")


def free_port() -> int:
    """A TCP port free now on 127.0.0.1 (not the default 29500, so parallel runs do not collide)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def two_process_launch(script: Path, *args: str) -> list[str]:
    """`accelerate launch` of `script` with `args` on two processes of one machine, in full precision."""
    launcher = (
        [str(ACCELERATE), "launch"] if ACCELERATE.exists() else [sys.executable, "-m", "accelerate.commands.launch"]
    )
    return [
        *launcher,
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--main_process_port",
        str(free_port()),
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        str(script),
        *args,
    ]
