"""Modules and classes stay small enough to read whole: a module past 600 lines or a class past 400 is
doing more than one job and wants splitting along a real seam, not a longer limit."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "realtime_nb"
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 400


def _modules() -> list[tuple[Path, str]]:
    return [(path, path.read_text()) for path in sorted(PACKAGE.rglob("*.py"))]


def test_no_module_is_over_600_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path, text in _modules()
        if (n := len(text.splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_class_is_over_400_lines() -> None:
    long = {}
    for path, text in _modules():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                assert node.end_lineno is not None
                if (n := node.end_lineno - first + 1) > MAX_CLASS_LINES:
                    long[f"{path.relative_to(PACKAGE.parent)}:{node.name}"] = n
    assert long == {}
