"""Model work runs a few nice steps below the event loop.

One event loop serves every session's I/O: WebSocket frames, WebRTC packets and their 20 ms pacing,
the VAD of small chunks, every event. Model work (synthesis, transcription, the responder, model
loading) runs on worker threads, and the runtimes behind it (ONNX Runtime, CTranslate2, OpenMP)
start native threads of their own. With eight WebRTC calls on two cores the loop thread spent
2.5x longer waiting for a CPU than running, behind those threads, and every call's turn detection
fell behind with it. Linux schedules threads one by one, so raising the nice value of the model
threads alone gives the loop the CPU when both want it, while the models still get every cycle the
loop leaves. Native threads inherit the nice value of the thread that creates them, so models are
loaded on, and run from, threads that have already yielded.

Raising a nice value needs no privilege (lowering it again does), so this works for any user; on a
system without per-thread priorities it does nothing.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["MODEL_WORK_NICE", "current_nice", "run_below_loop", "yield_to_loop"]

MODEL_WORK_NICE = 5  # ~3x the loop's CPU share against one model thread when both are runnable

T = TypeVar("T")


def current_nice() -> int | None:
    """This thread's nice value, or None where threads have no priority of their own."""
    if not hasattr(os, "getpriority"):
        return None
    try:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except OSError:
        return None


def yield_to_loop() -> None:
    """Raise this thread's nice value by MODEL_WORK_NICE (a worker's initializer)."""
    nice = current_nice()
    if nice is None:
        return
    with contextlib.suppress(OSError):  # a sandbox that forbids it: run at the loop's priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, nice + MODEL_WORK_NICE))


def run_below_loop(fn: Callable[[], T], name: str = "model-load") -> T:
    """``fn()`` on a fresh thread that has yielded to the loop, so threads it starts inherit that."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        yield_to_loop()
        try:
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
