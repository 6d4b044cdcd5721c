"""Drive JupyterLab in headless Debian Chromium: start the server, open a generated notebook, run it,
click widgets, read page-side counters and kernel-side results.

Used by the browser tests (through the fixtures in conftest.py) and by benchmarks/bench_widgets.py.
The recipe (flags, environment, what to wait for) is the one in /work/shared/notes/browser-testing.md.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
FAKE_MIC_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on a free port, with fresh config / runtime / workspace / settings dirs."""

    def __init__(self, root: Path, *, startup_timeout_s: float = 90.0) -> None:
        self.root = Path(root)
        self.port = free_port()
        self.token = os.urandom(12).hex()
        self._tmp = tempfile.TemporaryDirectory(prefix="rtnb-lab-")
        home = Path(self._tmp.name)
        env = dict(os.environ)
        dirs = {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_RUNTIME_DIR": "runtime",
                "JUPYTERLAB_WORKSPACES_DIR": "workspaces", "JUPYTERLAB_SETTINGS_DIR": "settings"}
        for var, sub in dirs.items():
            (home / sub).mkdir()
            env[var] = str(home / sub)
        # No news pop-up over the notebook.
        notif = home / "settings" / "@jupyterlab" / "apputils-extension"
        notif.mkdir(parents=True)
        (notif / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self.log_path = home / "lab.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             "--port-retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.root}",
             "--LabApp.expose_app_in_browser=True",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--allow-root"],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            self._wait_ready(startup_timeout_s)
        except BaseException:
            self.stop()
            raise

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(f"{self.base}{path}?token={self.token}", method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({self.proc.returncode}); log:\n{self.log_text()}")
            try:
                self.api("/api/status")
                return
            except OSError:
                time.sleep(0.25)
        raise TimeoutError(f"jupyter lab not up after {timeout_s} s; log:\n{self.log_text()}")

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def shutdown_kernels(self) -> None:
        for session in self.api("/api/sessions"):
            self.api(f"/api/sessions/{session['id']}", method="DELETE")

    def notebook_url(self, name: str) -> str:
        return f"{self.base}/lab/tree/{name}?reset&token={self.token}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own process group only
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
        self._tmp.cleanup()


def write_notebook(path: Path, cells: Sequence[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@contextmanager
def chromium(fake_audio: Path | None = None, extra_args: Sequence[str] = (),
             fake_ui: bool = True) -> Iterator[Any]:
    """A persistent Chromium context (Playwright); ``fake_audio``: WAV looped as the microphone."""
    from playwright.sync_api import sync_playwright

    args = [*CHROMIUM_ARGS, *extra_args]
    if fake_audio is not None:
        args += (FAKE_MIC_ARGS if fake_ui else FAKE_MIC_ARGS[1:])
        args.append(f"--use-file-for-fake-audio-capture={Path(fake_audio).resolve()}")
    with tempfile.TemporaryDirectory(prefix="rtnb-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=args,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


_EXECUTE_JS = """
async (code) => {
  const kernel = window.__rtnbKernel;
  const future = kernel.requestExecute({ code, store_history: false, silent: false });
  let out = "", err = null;
  future.onIOPub = (msg) => {
    const t = msg.header.msg_type, c = msg.content;
    if (t === "stream") out += c.text;
    else if (t === "execute_result") out += c.data["text/plain"];
    else if (t === "error") err = `${c.ename}: ${c.evalue}`;
  };
  await future.done;
  if (err) throw new Error(err);
  return out;
}
"""


class NotebookPage:
    """One opened notebook: run it, execute code in its kernel, read page-side hooks."""

    def __init__(self, page: Any, lab: Lab, name: str, *, timeout_s: float = 120.0) -> None:
        self.page = page
        self.lab = lab
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        page.set_default_timeout(timeout_s * 1000)
        page.goto(lab.notebook_url(name))
        page.wait_for_function(
            "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
            " if (k && k.status === 'idle') { window.__rtnbKernel = k; return true; } return false; }",
            polling=200,
        )

    def run_all(self) -> None:
        self.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def wait_idle(self) -> None:
        self.page.wait_for_function("() => window.__rtnbKernel.status === 'idle'", polling=100)

    def run_until_shown(self, selector: str, *more: str) -> Any:
        """Run every cell, wait until ``selector`` (then each of ``more``) is on the page and the
        kernel is idle again; the locator of ``selector``. The page's default timeout applies."""
        self.run_all()
        shown = self.page.locator(selector)
        shown.wait_for()
        for other in more:
            self.page.locator(other).wait_for()
        self.wait_idle()
        return shown

    def execute(self, code: str) -> str:
        """Run ``code`` in the notebook's kernel; return what it printed (raises on an exception)."""
        return self.page.evaluate(_EXECUTE_JS, code)

    def kernel_json(self, expr: str) -> Any:
        return json.loads(self.execute(f"import json as _j; print(_j.dumps({expr}, default=float))"))

    def wait_kernel(self, expr: str, timeout_s: float = 30.0, poll_s: float = 0.3) -> Any:
        """Evaluate ``expr`` in the kernel until it is truthy or ``timeout_s`` passed; its last value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.kernel_json(expr)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(poll_s)

    def js(self, expr: str) -> Any:
        return self.page.evaluate(f"() => ({expr})")

    def wait_js(self, expr: str, timeout_s: float = 30.0) -> None:
        self.page.wait_for_function(f"() => ({expr})", polling=100, timeout=timeout_s * 1000)


# ------------------------------------------------------------------------------------ audio helpers
def synth_test_signal(seconds: float = 6.0, rate: int = 48000, seed: int = 7) -> np.ndarray:
    """Speech-like but never silent: gliding harmonic tones under syllable-rate envelopes plus noise.

    Every 0.5 s window is distinct from every other (no periodicity inside the file), so a capture
    can be located in it by correlation.
    """
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 140 + 60 * np.sin(2 * np.pi * 0.37 * t) + 35 * np.sin(2 * np.pi * 1.13 * t + 1.0)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    noise = rng.standard_normal(n)
    kernel = np.hanning(25)
    noise = np.convolve(noise, kernel / kernel.sum(), mode="same")  # keep it below ~2 kHz mostly
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3.1 * t + 2 * np.sin(2 * np.pi * 0.21 * t))
    x = envelope * voiced + 0.8 * noise * (1.2 - envelope)
    return (0.5 * x / np.abs(x).max() * 32767).astype(np.int16)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return path


def segment_similarity(received: np.ndarray, reference: np.ndarray, rate: int = 24000,
                       segment_s: float = 0.5) -> np.ndarray:
    """Best normalised cross-correlation of each ``segment_s`` slice of ``received`` in ``reference``.

    The reference is searched circularly (the fake microphone loops its file), and each segment is
    located on its own, so a capture that jumps under load still scores per segment.
    """
    rec = np.asarray(received, dtype=float)
    ref = np.asarray(reference, dtype=float)
    seg = int(segment_s * rate)
    loop = np.concatenate([ref, ref[: seg]])
    size = 1 << int(np.ceil(np.log2(len(loop) + seg)))
    ref_fft = np.fft.rfft(loop, size)
    energy = np.concatenate([[0.0], np.cumsum(loop**2)])
    window = energy[seg:] - energy[:-seg]  # energy of loop[l : l + seg] for each lag l
    scores = []
    for start in range(0, len(rec) - seg + 1, seg):
        s = rec[start : start + seg]
        norm = np.linalg.norm(s)
        if norm == 0:
            scores.append(0.0)
            continue
        corr = np.fft.irfft(ref_fft * np.conj(np.fft.rfft(s, size)), size)[: len(window)]
        ncc = corr / (norm * np.sqrt(np.maximum(window, 1e-9)))
        scores.append(float(ncc.max()))
    return np.asarray(scores)
