"""Fixtures for the real-browser tests: one JupyterLab per session, a notebook directory, Chromium.

Every test here is marked ``browser`` and skipped (with the reason) when Debian's Chromium is absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.harness import CHROMIUM, Lab, write_wav

_NO_CHROMIUM = f"{CHROMIUM} is not installed (apt-get install chromium)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(reason=_NO_CHROMIUM))


@pytest.fixture(scope="session")
def notebook_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notebooks")


@pytest.fixture(scope="session")
def lab(notebook_dir: Path) -> Iterator[Lab]:
    if not CHROMIUM.exists():
        pytest.skip(_NO_CHROMIUM)
    server = Lab(notebook_dir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_lab(lab: Lab) -> Iterator[Lab]:
    """The shared server, with every kernel shut down after the test."""
    yield lab
    lab.shutdown_kernels()


@pytest.fixture(scope="session")
def silence(notebook_dir: Path) -> Path:
    """Five seconds of digital silence, 24 kHz: the fake microphone of calls that need no speech."""
    import numpy as np

    return write_wav(notebook_dir / "silence.wav", np.zeros(24000 * 5, np.int16), 24000)
