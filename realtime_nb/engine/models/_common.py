"""Small helpers shared by the model adapters: input checks and ONNX Runtime sessions."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class ModelUnavailableError(RuntimeError):
    """A model's package or data file is missing; the message says what to install."""


def as_float_audio(samples: np.ndarray, what: str = "audio") -> np.ndarray:
    """Mono int16 or float audio -> contiguous float32 in [-1, 1]; clear errors otherwise."""
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"{what} must be mono (1-D), got shape {samples.shape}")
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / np.float32(32768.0)
    if samples.dtype.kind == "f":
        return np.ascontiguousarray(samples, dtype=np.float32)
    raise ValueError(f"{what} must be int16 or float samples, got dtype {samples.dtype}")


def onnx_session(path: Path, threads: int = 1, *, shapes_vary: bool = False):  # -> ort.InferenceSession
    """A CPU inference session. `run` on one session is thread-safe, so sessions are shared.

    `threads` 0 is ONNX Runtime's default (one per core). `shapes_vary`: the model's input length
    changes from call to call (the voice: one sentence's phonemes). ONNX Runtime then runs it
    without its memory pattern: that plans each run's buffers per input shape, keeps every plan it
    made and sizes its arena's blocks to them. Measured on the voice alone (`bench_memory_parts.py
    voice` vs `voice-plans`): 100 MB less resident from the start at the same speed, and in one
    7-minute run the arena stepped up 55 MB with the pattern and grew 2 MB without it.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_mem_pattern = not shapes_vary
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
