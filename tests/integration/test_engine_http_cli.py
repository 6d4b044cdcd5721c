"""`realtime-nb serve --allow-origin`: the page origins a served engine trusts, and its WebRTC banner."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest

from realtime_nb.cli import build_parser, main

STARTUP_TIMEOUT_S = 60.0


def test_allow_origin_is_repeatable_and_normalized() -> None:
    args = build_parser().parse_args(
        ["serve", "--allow-origin", "https://Lab.Example.org:443", "--allow-origin", "http://a.example:8000/"]
    )
    assert args.allow_origin == ["https://lab.example.org", "http://a.example:8000"]
    assert build_parser().parse_args(["serve"]).allow_origin == []


@pytest.mark.parametrize("bad", ["lab.example.org", "https://lab.example.org/lab", "*"])
def test_a_bad_origin_is_a_usage_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["serve", "--allow-origin", bad])
    assert done.value.code == 2
    assert "--allow-origin" in capsys.readouterr().err


async def test_served_engine_trusts_the_named_origin_and_no_other() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "realtime_nb.cli",
            "serve",
            "--port",
            "0",
            "--allow-origin",
            "https://lab.example.org",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []

        def wait_banner() -> str:
            assert proc.stdout is not None
            while True:
                line = proc.stdout.readline()
                assert line, "serve exited before listening"
                lines.append(line)
                if line.startswith("  pages trusted:"):
                    return "".join(lines)

        banner = await asyncio.wait_for(asyncio.to_thread(wait_banner), STARTUP_TIMEOUT_S)
        found = re.search(r"listening on ws://(\S+)", banner)
        assert found
        assert "/v1/realtime/client_secrets" in banner and "https://lab.example.org" in banner
        base = f"http://{found.group(1)}"

        async with httpx.AsyncClient(base_url=base, timeout=30) as client:

            async def preflight(origin: str) -> Any:
                headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
                return await client.options("/v1/realtime/calls", headers=headers)

            named = await preflight("https://lab.example.org")
            assert named.status_code == 204
            assert named.headers["access-control-allow-origin"] == "https://lab.example.org"
            loopback = await preflight("http://localhost:8888")
            assert loopback.headers["access-control-allow-origin"] == "http://localhost:8888"
            other = await preflight("https://other.example.org")
            assert other.status_code == 403 and "access-control-allow-origin" not in other.headers
            minted = await client.post(
                "/v1/realtime/client_secrets", json={}, headers={"Origin": "https://lab.example.org"}
            )
            assert minted.status_code == 200 and minted.json()["value"].startswith("ek_")
            call = await client.post(
                "/v1/realtime/calls",
                content="v=0\r\n",
                headers={
                    "Authorization": f"Bearer {minted.json()['value']}",
                    "Content-Type": "application/sdp",
                },
            )
            # `serve` answers calls with its own registry: this offer reaches it and is judged there
            assert call.status_code == 400 and call.json()["error"]["code"] == "invalid_sdp"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
