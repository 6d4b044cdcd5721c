"""Command line: ``realtime-nb serve`` runs the local engine in the foreground; ``realtime-nb sweep``
scores settings over a labelled corpus (:mod:`realtime_nb.sweeps.cli`).

The token should come from the environment variable ``REALTIME_NB_TOKEN``: a command line is visible
to every user of the machine (``ps``, ``/proc/PID/cmdline``), the environment is not. ``--token``
still works, with a warning saying so. The token is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser", "engine_settings", "main"]

TOKEN_ENV = "REALTIME_NB_TOKEN"
MiB = 2**20
_UNSET: Any = object()  # a flag not given: the engine's default applies


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="realtime-nb",
        description="Explore and tune speech-to-speech Realtime API sessions; run the local engine.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="run the local Realtime engine (GA and preview dialects, OpenAI and Azure URL forms)",
        description=(
            "Run the local Realtime engine until Ctrl-C. Clients connect to "
            "ws://HOST:PORT/v1/realtime?model=M (GA; preview with OpenAI-Beta: realtime=v1), "
            "ws://HOST:PORT/openai/v1/realtime?model=DEP (Azure GA) or "
            "ws://HOST:PORT/openai/realtime?api-version=2025-04-01-preview&deployment=DEP (Azure preview)."
        ),
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)"
    )
    serve.add_argument("--port", type=_port, default=8765, help="TCP port (default: 8765; 0 = any free port)")
    serve.add_argument(
        "--token",
        default=None,
        help=f"clients must present this key (Bearer or api-key); prefer setting ${TOKEN_ENV} instead, "
        "as other users of the machine can read a command line (ps); default: ${TOKEN_ENV} if set, else none",
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        type=_origin,
        default=[],
        metavar="URL",
        help="a page origin (scheme://host[:port]) trusted to open WebSocket sessions, mint keys and place "
        "WebRTC calls, besides loopback pages (http://127.0.0.1:*, http://localhost:*); pages from "
        "other origins are refused (403); programs, which send no Origin, are not affected; repeatable",
    )
    serve.add_argument("--preload", action="store_true", help="load every model before listening")
    serve.add_argument(
        "--audio-retention-s",
        type=_retention,
        default=_UNSET,
        metavar="S",
        help="conversation audio kept per session, newest first; older items keep their transcripts "
        "and their audio is refused (item_audio_unavailable) (default: 300; 'off' keeps all of it)",
    )
    serve.add_argument(
        "--max-session-minutes",
        type=float,
        default=None,
        help="session length before session_expired (default: 30 preview, 60 GA, as the service)",
    )
    serve.add_argument("-v", "--verbose", action="store_true", help="log every connection")
    _add_output_limits(serve)
    from realtime_nb.sweeps.cli import add_parser as add_sweep_parser

    add_sweep_parser(sub)
    return parser


def _add_output_limits(serve: argparse.ArgumentParser) -> None:
    """The backpressure flags: each maps to one `Backpressure` field or session option, is checked
    against its range in `engine.options.RANGES` (a bad value is a usage error naming the range),
    and defaults to the engine's own default (docs/limits.md)."""
    from realtime_nb.engine.options import RANGES, Backpressure, EngineOptions

    limits, session = Backpressure(), EngineOptions()
    group = serve.add_argument_group("output limits (backpressure, per WebSocket connection; docs/limits.md)")

    def flag(name: str, field: str, default: str, what: str, convert: Any, off: str | None = None) -> None:
        allowed = RANGES[field].describe(repr(off))
        group.add_argument(
            name,
            type=_limit(field, convert, off),
            default=_UNSET,
            dest=field,
            metavar=name.rsplit("-", 1)[-1].upper(),
            help=f"{what} (default: {default}; {allowed})",
        )

    flag(
        "--send-ahead-mib",
        "send_ahead_bytes",
        f"{limits.send_ahead_bytes / MiB:g}",
        "speech synthesis pauses while this much output waits for the socket",
        _mib,
    )
    flag(
        "--max-unsent-mib",
        "max_unsent_bytes",
        f"{limits.max_unsent_bytes / MiB:g}",
        "a reader this far behind is disconnected (close 1008)",
        _mib,
    )
    flag(
        "--max-lag-s",
        "max_lag_s",
        f"{limits.max_lag_s:g}",
        "a reader whose oldest unsent event waited this long is disconnected (close 1008)",
        float,
    )
    flag(
        "--stream-ahead-ms",
        "stream_ahead_ms",
        f"{session.stream_ahead_ms}",
        "a reply's synthesis runs at most this far ahead of real time",
        int,
        off="off",
    )
    flag(
        "--keepalive-interval-s",
        "ping_interval_s",
        f"{limits.ping_interval_s:g}",
        "the engine pings each client this often",
        float,
        off="off",
    )
    flag(
        "--keepalive-timeout-s",
        "ping_timeout_s",
        f"{limits.ping_timeout_s:g}",
        "a client that does not answer a ping within this is disconnected (close 1011)",
        float,
    )


def _mib(text: str) -> int:
    return round(float(text) * MiB)


def _limit(field: str, convert: Any, off: str | None) -> Any:
    from realtime_nb.engine.options import check_range

    def parse(text: str) -> Any:
        if off is not None and text.strip().lower() == off:
            return None
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        try:
            check_range(field, value, none_word=repr(off))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    return parse


_BACKPRESSURE_FLAGS = (
    "send_ahead_bytes",
    "max_unsent_bytes",
    "max_lag_s",
    "ping_interval_s",
    "ping_timeout_s",
)


def engine_settings(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """``realtime-nb serve``'s session options and backpressure fields, from its flags (only the ones
    given: the rest keep the engine's defaults)."""
    options: dict[str, Any] = {}
    if args.audio_retention_s is not _UNSET:
        options["audio_retention_s"] = args.audio_retention_s
    if args.max_session_minutes is not None:
        options["max_session_s"] = args.max_session_minutes * 60.0
    if args.stream_ahead_ms is not _UNSET:
        options["stream_ahead_ms"] = args.stream_ahead_ms
    backpressure = {
        name: getattr(args, name) for name in _BACKPRESSURE_FLAGS if getattr(args, name) is not _UNSET
    }
    return options, backpressure


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 0..65535, got {value}")
    return value


def _retention(text: str) -> float | None:
    if text.strip().lower() == "off":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"audio retention must be seconds or 'off', got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"audio retention must be positive seconds, got {text!r}")
    return value


def _origin(text: str) -> str:
    from realtime_nb.engine.origins import normalize_origin

    try:
        return normalize_origin(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


async def _serve(args: argparse.Namespace, token: str | None) -> int:
    from realtime_nb.engine.calls import webrtc_calls
    from realtime_nb.engine.runner import (
        EnginePortInUseError,
        explain_start_error,
        is_loopback,
    )
    from realtime_nb.engine.server import EngineServer

    # Handlers first: a Ctrl-C that lands while we print the banner still stops cleanly.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows / not the main thread
            loop.add_signal_handler(sig, stop.set)
    options, backpressure = engine_settings(args)
    started = time.perf_counter()
    server = EngineServer(
        token=token,
        options=options,
        allowed_origins=args.allow_origin,
        calls=webrtc_calls(),
        backpressure=backpressure,
    )
    server.prepare()
    if args.preload:
        print("loading models…", file=sys.stderr, flush=True)
        await asyncio.to_thread(server.warm_up)
    try:
        await server.start(args.host, args.port)
    except OSError as exc:
        error = explain_start_error(exc, args.host, args.port)
        hint = " (try --port 0)" if isinstance(error, EnginePortInUseError) else ""
        print(
            f"realtime-nb: {error.strerror if isinstance(error, OSError) else error}{hint}", file=sys.stderr
        )
        return 2
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"ws://{host}:{server.port}"
    print(
        f"realtime_nb engine listening on {url} (ready in {time.perf_counter() - started:.1f} s)", flush=True
    )
    print(f"  GA:            {url}/v1/realtime?model=gpt-realtime", flush=True)
    print("  preview:       same URL + header OpenAI-Beta: realtime=v1", flush=True)
    print(f"  Azure GA:      {url}/openai/v1/realtime?model=DEPLOYMENT", flush=True)
    print(
        f"  Azure preview: {url}/openai/realtime?api-version=2025-04-01-preview&deployment=DEPLOYMENT",
        flush=True,
    )
    source = "--token" if args.token is not None else f"${TOKEN_ENV}"
    auth = f"token required (from {source})" if token else "none (any key is accepted)"
    print(f"  auth: {auth}; Ctrl-C stops", flush=True)
    http = url.replace("ws://", "http://", 1)
    print(
        f"  WebRTC:        POST {http}/v1/realtime/client_secrets, then {http}/v1/realtime/calls "
        "(and the Azure / preview paths)",
        flush=True,
    )
    pages = ", ".join(["loopback pages", *sorted(server.origins.named)])
    print(f"  pages trusted: {pages}", flush=True)
    if not is_loopback(args.host):
        print(
            f"warning: bound to {args.host}, reachable from other machines"
            + ("" if token else "; anyone can connect (set --token)"),
            file=sys.stderr,
            flush=True,
        )

    if not args.preload:  # a daemon thread: Ctrl-C during warm-up must not wait for it
        threading.Thread(target=_warm_quietly, args=(server,), name="warm-up", daemon=True).start()
    try:
        await stop.wait()
    finally:
        print("stopping: closing sessions…", file=sys.stderr, flush=True)
        await server.stop()
    return 0


def _warm_quietly(server: Any) -> None:
    try:
        server.warm_up()
    except Exception as exc:  # the first session will load (or report) the model itself
        logging.getLogger("realtime_nb.engine").warning("model warm-up failed: %s", exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``realtime-nb`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "sweep":
        from realtime_nb.sweeps.cli import run as run_sweep

        return run_sweep(args)
    if args.command == "serve":
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        if args.token is not None:
            print(
                f"warning: --token is visible to other users of this machine (ps); "
                f"set the environment variable {TOKEN_ENV} instead",
                file=sys.stderr,
                flush=True,
            )
        token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
        try:
            code = asyncio.run(_serve(args, token))
        except KeyboardInterrupt:  # a second Ctrl-C during shutdown
            code = 130
        except (TypeError, ValueError) as exc:  # bad engine options
            print(f"realtime-nb: {exc}", file=sys.stderr)
            code = 2
        if argv is None:
            # Run as the program: the sockets are closed, so skip interpreter finalization. A model
            # still loading on the warm-up thread (native ONNX / CTranslate2 code) can otherwise abort
            # the process (SIGABRT) while its libraries are torn down under it.
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
