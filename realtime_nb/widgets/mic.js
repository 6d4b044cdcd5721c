// Mic widget front end: AudioWorklet capture -> mono PCM16 chunks at the wire rate -> kernel (binary buffers).
// No build step: anywidget loads this file as an ES module. The wire rate is not written here: the kernel
// sends it as the `pcm_rate` trait (realtime_nb.protocol.PCM_RATE).

const PERMISSION_TIMEOUT_MS = 30000;

// The worklet runs on the audio thread. It mixes to mono, low-passes (windowed sinc) when the context
// runs faster than the wire rate, resamples by linear interpolation with a fractional read position that
// carries over between render quanta, and cuts PCM16 chunks of a fixed sample count.
const WORKLET_SOURCE = `
function lowpass(fc, taps) {
  const h = new Float32Array(taps); const m = (taps - 1) / 2; let sum = 0;
  for (let k = 0; k < taps; k++) {
    const x = k - m;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const w = 0.42 - 0.5 * Math.cos(2 * Math.PI * k / (taps - 1)) + 0.08 * Math.cos(4 * Math.PI * k / (taps - 1));
    h[k] = sinc * w; sum += h[k];
  }
  for (let k = 0; k < taps; k++) h[k] /= sum;
  return h;
}
class RtnbCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.chunk = o.chunkSamples;
    this.step = sampleRate / o.targetRate;
    this.taps = sampleRate > o.targetRate ? lowpass(0.45 * o.targetRate / sampleRate, 31) : new Float32Array([1]);
    this.L = this.taps.length;
    this.hist = new Float32Array(2 * this.L); this.hpos = 0;
    this.prev = 0; this.t = 0;
    this.buf = new Int16Array(this.chunk); this.n = 0; this.sq = 0;
    this.seq = 0; this.gate = o.gate;
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.cmd === "gate") { if (m.on && !this.gate) { this.n = 0; this.sq = 0; } this.gate = m.on; }
      else if (m.cmd === "flush") {
        if (this.gate && this.n > 0) this.emit(true);
        // close: shut the gate in the same step, so no chunk can follow the flushed tail
        if (m.close) { this.gate = false; this.n = 0; this.sq = 0; }
        this.port.postMessage({ kind: "flushed", tag: m.tag });
      }
    };
  }
  emit(partial) {
    const level = Math.sqrt(this.sq / Math.max(1, this.n));
    if (this.gate) {
      const pcm = partial ? this.buf.slice(0, this.n) : this.buf;
      this.port.postMessage({ kind: "chunk", seq: this.seq++, pcm: pcm.buffer, level }, [pcm.buffer]);
      if (!partial) this.buf = new Int16Array(this.chunk);
    } else {
      this.port.postMessage({ kind: "level", level });
    }
    this.n = 0; this.sq = 0;
  }
  push(v) {
    const s = v > 1 ? 1 : v < -1 ? -1 : v;
    this.buf[this.n++] = Math.round(s < 0 ? s * 32768 : s * 32767);
    this.sq += s * s;
    if (this.n === this.chunk) this.emit(false);
  }
  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const chans = input.length, len = input[0].length, taps = this.taps, L = this.L, hist = this.hist;
    for (let i = 0; i < len; i++) {
      let x = 0;
      for (let c = 0; c < chans; c++) x += input[c][i];
      x /= chans;
      hist[this.hpos] = x; hist[this.hpos + L] = x;
      let y = 0;
      const newest = this.hpos + L;
      for (let j = 0; j < L; j++) y += taps[j] * hist[newest - j];
      this.hpos = (this.hpos + 1) % L;
      while (this.t < 1) { this.push(this.prev + (y - this.prev) * this.t); this.t += this.step; }
      this.t -= 1; this.prev = y;
    }
    return true;
  }
}
registerProcessor("rtnb-capture", RtnbCapture);
`;

let workletUrl = null;
function getWorkletUrl() {
  if (!workletUrl) workletUrl = URL.createObjectURL(new Blob([WORKLET_SOURCE], { type: "application/javascript" }));
  return workletUrl;
}

function explain(err) {
  const name = (err && err.name) || "Error";
  const raw = (err && err.message) || String(err);
  const why = {
    NotAllowedError: "microphone permission denied",
    NotFoundError: "no microphone found",
    NotReadableError: "the microphone is busy or unavailable",
    OverconstrainedError: "the selected microphone is not available",
    SecurityError: "the microphone needs a secure origin",
    TimeoutError: "no answer to the microphone permission request",
  }[name];
  return { name, message: why ? `${why} (${raw})` : raw };
}

function render({ model, el: root }) {
  const stats = { chunksSent: 0, samplesSent: 0, contextRate: 0, running: false, error: "", level: 0,
    starts: 0, device: "" };
  hooks().mics.push(stats);
  const pcmRate = model.get("pcm_rate"); // Hz of the chunks sent to the kernel

  const box = el("div", "rtnb-audio rtnb-mic");
  const start = el("button", "rtnb-start", "▶ Start mic");
  const talk = el("button", "rtnb-talk", "Hold to talk");
  talk.style.touchAction = "none"; // a held finger that drifts must not turn into a scroll (pointercancel)
  const device = el("select", "rtnb-device");
  const ecLabel = el("label", "rtnb-ec");
  const ec = el("input"); ec.type = "checkbox";
  ecLabel.append(ec, " echo cancellation");
  const mode = el("select", "rtnb-mode");
  for (const [v, t] of [["open", "open mic"], ["push_to_talk", "push-to-talk"]]) {
    const o = el("option", "", t); o.value = v; mode.append(o);
  }
  const meter = el("div", "rtnb-meter"); const bar = el("div", "rtnb-meter-bar"); meter.append(bar);
  const info = el("div", "rtnb-info", "stopped");
  const error = el("div", "rtnb-error");
  const row = el("div", "rtnb-row");
  row.append(start, talk, meter, mode, device, ecLabel);
  box.append(row, info, error);
  root.append(box);

  let cap = null;       // {ctx, stream, node, source} while running
  let starting = false;
  let held = false;
  const onFlushed = new Map(); // tag -> callback

  function syncControls() {
    ec.checked = model.get("echo_cancellation");
    mode.value = model.get("mode");
    start.textContent = cap ? "■ Stop mic" : "▶ Start mic";
    talk.style.display = cap && model.get("mode") === "push_to_talk" ? "" : "none";
    talk.classList.toggle("rtnb-held", held);
  }

  function showInfo() {
    const s = model.get("status") || {};
    const lat = s.latency_ms == null ? "–" : `${s.latency_ms} ms`;
    info.textContent = cap
      ? `● live at ${stats.contextRate} Hz → ${pcmRate / 1000} kHz · sent ${stats.chunksSent} chunks (${Math.round(stats.samplesSent * 1000 / pcmRate)} ms)` +
        ` · kernel got ${s.chunks ?? 0}, dropped ${s.dropped ?? 0}, latency ${lat}`
      : `stopped · sent ${stats.chunksSent} chunks`;
  }

  function setLevel(rms) {
    stats.level = rms;
    const db = rms > 0 ? 20 * Math.log10(rms) : -90;
    bar.style.width = `${Math.max(0, Math.min(1, (db + 60) / 60)) * 100}%`;
  }

  function fail(err) {
    const e = explain(err);
    stats.error = `${e.name}: ${e.message}`;
    error.textContent = `⚠ ${e.message}`;
    model.set("error", stats.error);
    model.save_changes();
    model.send({ type: "error", name: e.name, message: e.message });
  }

  const refreshDevices = () => fillMicrophones(device, model.get("device_id"));


  function gate(on) { if (cap) cap.node.port.postMessage({ cmd: "gate", on }); }
  function flush(tag, close = false) {
    return new Promise((resolve) => {
      onFlushed.set(tag, resolve);
      cap.node.port.postMessage({ cmd: "flush", tag, close });
      setTimeout(resolve, 1000); // a worklet closing under us must not stall the chain of turns
    });
  }

  function onWorklet(e) {
    const m = e.data;
    if (m.kind === "chunk") {
      const n = m.pcm.byteLength / 2;
      model.send({ type: "chunk", seq: m.seq, t_capture: performance.now(), rate: pcmRate, level: m.level },
        undefined, [m.pcm]);
      stats.chunksSent++; stats.samplesSent += n;
      setLevel(m.level);
      if (stats.chunksSent % 5 === 0) showInfo();
    } else if (m.kind === "level") {
      setLevel(m.level);
    } else if (m.kind === "flushed") {
      const cb = onFlushed.get(m.tag); onFlushed.delete(m.tag); if (cb) cb();
    }
  }

  // Must run synchronously inside the click handler up to the AudioContext creation: browsers only let
  // a user gesture start audio.
  function startCapture() {
    if (cap || starting) return;
    error.textContent = ""; stats.error = "";
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      fail({ name: "SecurityError", message: `this page (${location.origin}) is not a secure context; use https, localhost or 127.0.0.1` });
      return;
    }
    starting = true;
    const rate = model.get("context_rate");
    let ctx;
    try {
      ctx = new AudioContext(rate ? { sampleRate: rate } : {});
    } catch (err) { starting = false; fail(err); return; }
    ctx.resume();
    const constraints = {
      channelCount: 1, echoCancellation: model.get("echo_cancellation"), noiseSuppression: false, autoGainControl: false,
    };
    if (model.get("device_id")) constraints.deviceId = { exact: model.get("device_id") };
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject({ name: "TimeoutError", message: `no answer after ${PERMISSION_TIMEOUT_MS / 1000} s` }), PERMISSION_TIMEOUT_MS);
    });
    info.textContent = "waiting for the microphone…";
    (async () => {
      let stream = null;
      try {
        stream = await Promise.race([navigator.mediaDevices.getUserMedia({ audio: constraints }), timeout]);
        clearTimeout(timer);
        await ctx.audioWorklet.addModule(getWorkletUrl());
        const source = ctx.createMediaStreamSource(stream);
        const chunkSamples = Math.round(pcmRate * model.get("chunk_ms") / 1000);
        const node = new AudioWorkletNode(ctx, "rtnb-capture", {
          numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
          processorOptions: { targetRate: pcmRate, chunkSamples, gate: model.get("mode") === "open" },
        });
        node.port.onmessage = onWorklet;
        source.connect(node);
        node.connect(ctx.destination); // a connected node keeps being rendered; it outputs silence
        const track = stream.getAudioTracks()[0];
        cap = { ctx, stream, node, source };
        stats.running = true; stats.starts++; stats.contextRate = ctx.sampleRate;
        stats.device = track ? track.label : "";
        model.set("running", true); model.set("error", ""); model.save_changes();
        model.send({ type: "started", context_rate: ctx.sampleRate, rate: pcmRate, chunk_samples: chunkSamples,
          device: stats.device, echo_cancellation: model.get("echo_cancellation"), t_page: performance.now(),
          time_origin: performance.timeOrigin });
        refreshDevices();
      } catch (err) {
        clearTimeout(timer);
        if (stream) stream.getTracks().forEach((t) => t.stop());
        ctx.close();
        fail(err);
      } finally {
        starting = false;
        syncControls(); showInfo();
      }
    })();
  }

  async function stopCapture() {
    if (!cap) return;
    const c = cap;
    await flush("stop", true);
    gate(false);
    if (held) { held = false; model.send({ type: "ptt", down: false }); }
    cap = null;
    c.source.disconnect(); c.node.disconnect();
    c.stream.getTracks().forEach((t) => t.stop());
    await c.ctx.close();
    stats.running = false;
    model.set("running", false); model.save_changes();
    model.send({ type: "stopped", chunks_sent: stats.chunksSent });
    syncControls(); showInfo();
  }

  async function restart() { if (cap) { await stopCapture(); startCapture(); } }

  // Turn boundaries run in order on one chain: a press that comes while the previous release is still
  // flushing opens the gate only after that turn's tail and its "up" went out.
  let turns = Promise.resolve();
  function press(e) {
    if (!cap || held || e.button !== 0) return; // primary button / touch / pen contact only
    e.preventDefault();
    held = true;
    syncControls();
    turns = turns.then(() => {
      if (!cap || !held) return; // released (or stopped) before its turn came
      model.send({ type: "ptt", down: true });
      gate(true);
    }).catch(() => {});
  }
  function release() {
    if (!cap || !held) return;
    held = false;
    syncControls(); // the button comes up at once; the tail of the turn follows
    turns = turns.then(async () => {
      if (!cap) return;
      await flush("ptt", true); // the turn's tail, and the gate shut in the same worklet step
      model.send({ type: "ptt", down: false });
    }).catch(() => {});
  }
  // A mode switch sets the gate after any pending release, which would otherwise shut it again.
  function gateAfterTurns(on) { turns = turns.then(() => gate(on)).catch(() => {}); }

  start.addEventListener("click", () => { if (cap) stopCapture(); else startCapture(); });
  talk.addEventListener("pointerdown", press);
  talk.addEventListener("pointerup", release);
  talk.addEventListener("pointerleave", release);
  talk.addEventListener("pointercancel", release); // the browser took the pointer (touch scroll, palm)
  talk.addEventListener("contextmenu", (e) => e.preventDefault()); // a long touch must not open a menu
  ec.addEventListener("change", () => { model.set("echo_cancellation", ec.checked); model.save_changes(); restart(); });
  mode.addEventListener("change", () => {
    model.set("mode", mode.value); model.save_changes();
    if (held) release();
    gateAfterTurns(mode.value === "open");
    syncControls();
  });
  device.addEventListener("change", () => { model.set("device_id", device.value); model.save_changes(); restart(); });

  const onMsg = (msg) => {
    if (msg && msg.type === "ping") model.send({ type: "pong", id: msg.id, t_page: performance.now() });
  };
  model.on("msg:custom", onMsg);
  const onMode = () => { if (!held) gateAfterTurns(model.get("mode") === "open"); syncControls(); };
  model.on("change:mode", onMode);
  model.on("change:echo_cancellation", syncControls);
  model.on("change:status", showInfo);
  // The session's connection dropped (set from Python): stop capturing, grey out, say why.
  function onDisconnected() {
    const reason = model.get("disconnected");
    if (!reason) return;
    if (cap) stopCapture();
    for (const c of [start, talk, mode, device, ec]) c.disabled = true;
    box.classList.add("rtnb-disconnected");
    error.textContent = `⚠ session closed: ${reason}`;
  }
  model.on("change:disconnected", onDisconnected);
  onDisconnected();

  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
    navigator.mediaDevices.addEventListener("devicechange", refreshDevices);
  }
  refreshDevices().catch(() => {});
  syncControls(); showInfo();

  return () => {
    model.off("msg:custom", onMsg);
    model.off("change:mode", onMode);
    model.off("change:echo_cancellation", syncControls);
    model.off("change:status", showInfo);
    if (navigator.mediaDevices && navigator.mediaDevices.removeEventListener) {
      navigator.mediaDevices.removeEventListener("devicechange", refreshDevices);
    }
    stopCapture();
  };
}

export default { render };
