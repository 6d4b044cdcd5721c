"""The pcm16 rate is written once, as `realtime_nb.protocol.PCM_RATE`: every other module imports it,
and the widgets' pages are told it by the kernel (so a page cannot drift from the Python side)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

from realtime_nb.protocol import PCM_RATE
from realtime_nb.widgets import Mic, Player

PACKAGE = Path(__file__).resolve().parents[2] / "realtime_nb"
HOME = PACKAGE / "protocol" / "formats.py"


def _numbers(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every number literal in a Python file (comments and strings are not numbers)."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return [(t.start[0], t.string) for t in tokens if t.type == tokenize.NUMBER]


def test_only_the_protocol_spells_the_pcm_rate() -> None:
    spelled = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != HOME
        for line, text in _numbers(path)
        if ast.literal_eval(text) == PCM_RATE
    ]
    assert spelled == [], "import realtime_nb.protocol.PCM_RATE instead of writing the rate"
    assert [text for _, text in _numbers(HOME)].count(str(PCM_RATE)) == 1


def test_the_pages_take_the_rate_from_the_kernel() -> None:
    for widget, page in ((Mic(), "mic.js"), (Player(), "player.js")):
        assert widget.get_state()["pcm_rate"] == PCM_RATE
        source = (PACKAGE / "widgets" / page).read_text()
        assert 'model.get("pcm_rate")' in source
        assert not re.search(rf"\b{PCM_RATE}\b|\b{PCM_RATE // 1000}_?000\b", source)
