"""Fixtures of the robustness suite: the catalogue's files, written once per session on first use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.robustness.catalogue import Case


@pytest.fixture(scope="session")
def case_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Case], Path]:
    """Return the path of a case's file, writing it the first time it is asked for (cases may share a file)."""
    folder = tmp_path_factory.mktemp("catalogue")
    made: dict[str, Path] = {}

    def get(case: Case) -> Path:
        if case.file not in made:
            path = folder / case.file
            case.make(path)
            made[case.file] = path
        return made[case.file]

    return get
