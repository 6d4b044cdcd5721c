"""The install descriptions agree: pyproject.toml, constraints.txt, environment.yml and binder/."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_sync_env():
    spec = importlib.util.spec_from_file_location("sync_env", ROOT / "scripts" / "sync_env.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sync_env"] = module
    spec.loader.exec_module(module)
    return module


def test_environment_files_match_pyproject_and_constraints():
    expected = _load_sync_env().render()
    for path in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        assert path.read_text() == expected, f"{path.name} is stale: run python scripts/sync_env.py"


def test_every_direct_dependency_is_pinned():
    sync_env = _load_sync_env()
    pins = sync_env.pins()
    missing = [name for name in sync_env.wanted() if name not in pins]
    assert not missing, f"add pins to constraints.txt for {missing}"


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import PackageNotFoundError, version

    pins = _load_sync_env().pins()
    wrong = {}
    for name in _load_sync_env().wanted():
        try:
            have = version(name)
        except PackageNotFoundError:
            continue
        if have != pins[name]:
            wrong[name] = (have, pins[name])
    assert not wrong, f"installed != pinned: {wrong}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make lab" in readme
