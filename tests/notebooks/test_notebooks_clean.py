"""Notebooks are committed as documentation: valid, without outputs or counts, and without keys.

Outputs in git make diffs unreadable and can carry a key or a user's audio; strip them with
``jupyter nbconvert --clear-output --inplace notebooks/*.ipynb`` before committing.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").rglob("*.ipynb"))
_KEY_LIKE = re.compile(r"sk-[A-Za-z0-9_-]{16,}")


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def path(request: pytest.FixtureRequest) -> Path:
    return request.param


def test_valid_and_stripped(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; clear them"


def test_no_key_like_text(path: Path) -> None:
    found = _KEY_LIKE.findall(path.read_text(encoding="utf-8"))
    assert not found, f"{path.name} contains {len(found)} string(s) that look like an API key"
