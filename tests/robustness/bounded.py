"""Run one robustness case in a forked child process with a time bound, so a crash or a hang fails only that case.

A case that segfaults inside FFmpeg, exhausts memory or loops forever would take pytest down with it (or stall CI:
pytest-timeout is not a dependency, and `signal.alarm` cannot interrupt C code). The child is forked, so it starts
in milliseconds with everything the parent imported; it sends back the function's value or the exception it
raised, and the parent re-raises that exception, so tests use `pytest.raises` as usual.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Any

import pytest

# Seconds one case may take. Cases take well under a second on one core; the bound is generous because the test
# machine's cores are shared, and it exists to turn a hang into a failure, not to time anything.
CASE_TIMEOUT_S = 60.0
# Fork keeps the parent's imports (torch, av) and objects (a processor, a model); other platforms run in-process.
_CAN_FORK = sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


class ChildFailure(RuntimeError):
    """The child raised an exception that could not be sent back as itself (its text is kept)."""


def bounded(function: Callable[..., Any], *args: Any, timeout_s: float = CASE_TIMEOUT_S, **kwargs: Any) -> Any:
    """Return `function(*args, **kwargs)` computed in a forked child, or re-raise what it raised.

    The value must pickle (numpy arrays, dataclasses of them, plain containers). Fails the test when the child
    does not answer within `timeout_s` seconds (it is killed) or dies without answering (a crash: the exit code or
    signal is reported).
    """
    if not _CAN_FORK:
        return function(*args, **kwargs)
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def child() -> None:
        try:
            message: tuple[str, Any] = ("value", function(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 - everything is sent back to the parent
            message = ("error", error)
        try:
            payload = pickle.dumps(message)
        except Exception:  # noqa: BLE001 - an unpicklable value or exception travels as text
            kind, item = message
            payload = pickle.dumps(("error", ChildFailure(f"{type(item).__name__}: {item}")))
        sender.send_bytes(payload)
        sender.close()

    process = context.Process(target=child, daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout_s):
            os.kill(process.pid, signal.SIGKILL)
            process.join()
            pytest.fail(f"{getattr(function, '__name__', function)} hung: no answer within {timeout_s:g} s")
        try:
            payload = receiver.recv_bytes()
        except EOFError:
            process.join()
            code = process.exitcode
            how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
            pytest.fail(f"{getattr(function, '__name__', function)} crashed the process ({how})")
    finally:
        receiver.close()
    process.join()
    kind, item = pickle.loads(payload)
    if kind == "error":
        raise item
    return item
