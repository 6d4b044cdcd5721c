// Player widget front end: PCM16 chunks from the kernel, one AudioBufferSource per chunk scheduled on
// a play head; reports per item how many ms the listener has heard. The chunks' rate is not written
// here: the kernel sends it as the `pcm_rate` trait (realtime_nb.protocol.PCM_RATE).

const START_LEAD_S = 0.05;      // head room when playback starts from idle, so the first chunk is whole
const REPORT_EVERY_MS = 100;    // played-ms reports while audio is scheduled

function render({ model, el: root }) {
  // Test hooks: read from the page as window.__rtnb.players[i].
  const stats = { received: 0, queued: 0, ended: 0, stopped: 0, secondsPlayed: 0, queuedSeconds: 0,
    rms: 0, maxRms: 0, state: "none", lastSeq: -1, reports: 0 };
  hooks().players.push(stats);
  const pcmRate = model.get("pcm_rate"); // Hz of the chunks the kernel sends

  const box = el("div", "rtnb-audio rtnb-player");
  const enable = el("button", "rtnb-enable", "🔊 Enable audio");
  const stopBtn = el("button", "rtnb-stop", "■ Stop");
  const meter = el("div", "rtnb-meter"); const bar = el("div", "rtnb-meter-bar"); meter.append(bar);
  const info = el("div", "rtnb-info", "idle");
  const row = el("div", "rtnb-row");
  row.append(enable, stopBtn, meter);
  box.append(row, info);
  root.append(box);

  let ctx = null, analyser = null, playHead = 0;
  const pending = [];          // chunks received before the AudioContext could start
  let live = [];               // {src, item, start, dur, done}
  const played = new Map();    // item -> seconds heard of finished / cut chunks
  const dirty = new Set();     // items whose figure changed since the last report

  function heardTime() {
    // The context time now leaving the speakers; falls back to the render clock minus output latency.
    const ts = ctx.getOutputTimestamp ? ctx.getOutputTimestamp() : null;
    if (ts && ts.contextTime > 0 && ts.contextTime <= ctx.currentTime) return ts.contextTime;
    return Math.max(0, ctx.currentTime - (ctx.outputLatency || 0));
  }

  function heardOf(item, now) {
    let s = played.get(item) || 0;
    for (const c of live) if (c.item === item) s += Math.min(c.dur, Math.max(0, now - c.start));
    return s;
  }

  function ensureContext() {
    if (!ctx) {
      ctx = new AudioContext();
      analyser = ctx.createAnalyser();
      analyser.fftSize = 1024;
      analyser.connect(ctx.destination);
    }
    if (ctx.state !== "running") ctx.resume();
    stats.state = ctx.state;
    return ctx;
  }

  function schedule(item, pcm) {
    const n = pcm.length;
    const buf = ctx.createBuffer(1, n, pcmRate);
    const ch = buf.getChannelData(0);
    for (let i = 0; i < n; i++) ch[i] = pcm[i] / 32768;
    const src = ctx.createBufferSource();
    src.buffer = buf;
    src.connect(analyser);
    const start = Math.max(playHead, ctx.currentTime + (live.length ? 0 : START_LEAD_S));
    const chunk = { src, item, start, dur: n / pcmRate, done: false };
    src.onended = () => {
      if (chunk.done) return;  // cut by stop(): already accounted
      chunk.done = true;
      played.set(item, (played.get(item) || 0) + chunk.dur);
      stats.secondsPlayed += chunk.dur; stats.ended++;
      live = live.filter((c) => c !== chunk);
      dirty.add(item);
      if (!live.length) report(false);
    };
    src.start(start);
    playHead = start + chunk.dur;
    live.push(chunk);
    stats.queued++; stats.queuedSeconds += chunk.dur;
    dirty.add(item);
  }

  function report(final) {
    const now = ctx ? heardTime() : 0;
    const out = {};
    for (const item of dirty) out[item] = Math.round(heardOf(item, now) * 100000) / 100;
    if (!final) dirty.clear();
    for (const c of live) dirty.add(c.item);  // still sounding: report again next time
    stats.reports++;
    model.send({ type: "played", played: out, active: live.length > 0 || pending.length > 0, final,
      seq: stats.lastSeq });
    showInfo();
  }

  function stopAll() {
    const now = ctx ? heardTime() : 0;
    for (const c of live) {
      c.done = true;
      const heard = Math.min(c.dur, Math.max(0, now - c.start));
      played.set(c.item, (played.get(c.item) || 0) + heard);
      stats.secondsPlayed += heard; stats.stopped++;
      dirty.add(c.item);
      try { c.src.stop(); } catch (_) { /* never started */ }
    }
    live = [];
    pending.length = 0;
    if (ctx) playHead = ctx.currentTime;
    report(true);
    dirty.clear();
  }

  function showInfo() {
    const queuedMs = Math.round(stats.queuedSeconds * 1000);
    const playedMs = Math.round((ctx ? stats.secondsPlayed + live.reduce((s, c) =>
      s + Math.min(c.dur, Math.max(0, heardTime() - c.start)), 0) : 0) * 1000);
    const state = ctx ? ctx.state : "not started";
    info.textContent = `audio ${state} · received ${Math.round(model.get("received_ms"))} ms` +
      ` · queued ${queuedMs} ms · played ${playedMs} ms` + (pending.length ? ` · ${pending.length} waiting for a click` : "");
    enable.style.display = ctx && ctx.state === "running" ? "none" : "";
  }

  function drainPending() {
    if (!ctx || ctx.state !== "running") return;
    while (pending.length) { const p = pending.shift(); schedule(p.item, p.pcm); }
  }

  const onMsg = (msg, buffers) => {
    if (!msg) return;
    if (msg.type === "audio") {
      const b = buffers[0];
      const pcm = new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      stats.received++; stats.lastSeq = msg.seq;
      ensureContext();
      if (ctx.state === "running") schedule(msg.item, pcm);
      else pending.push({ item: msg.item, pcm });
      showInfo();
    } else if (msg.type === "stop") {
      stopAll();
    }
  };
  model.on("msg:custom", onMsg);

  enable.addEventListener("click", () => {
    ensureContext();
    ctx.resume().then(() => { stats.state = ctx.state; drainPending(); showInfo(); });
  });
  stopBtn.addEventListener("click", stopAll);

  const timeData = new Float32Array(1024);
  const timer = setInterval(() => {
    if (!ctx) return;
    stats.state = ctx.state;
    if (ctx.state === "running" && pending.length) drainPending();
    analyser.getFloatTimeDomainData(timeData);
    let sq = 0;
    for (let i = 0; i < timeData.length; i++) sq += timeData[i] * timeData[i];
    stats.rms = Math.sqrt(sq / timeData.length);
    stats.maxRms = Math.max(stats.maxRms, stats.rms);
    const db = stats.rms > 0 ? 20 * Math.log10(stats.rms) : -90;
    bar.style.width = `${Math.max(0, Math.min(1, (db + 60) / 60)) * 100}%`;
    if (live.length) report(false);
  }, REPORT_EVERY_MS);
  const onReceived = () => showInfo();
  model.on("change:received_ms", onReceived);

  // The session's connection dropped (set from Python): playback stops there; grey out, say why.
  const gone = el("div", "rtnb-error");
  box.append(gone);
  function onDisconnected() {
    const reason = model.get("disconnected");
    if (!reason) return;
    stopAll();
    enable.disabled = true; stopBtn.disabled = true;
    box.classList.add("rtnb-disconnected");
    gone.textContent = `⚠ session closed: ${reason}`;
  }
  model.on("change:disconnected", onDisconnected);
  onDisconnected();
  showInfo();

  return () => {
    clearInterval(timer);
    model.off("msg:custom", onMsg);
    model.off("change:received_ms", onReceived);
    if (ctx) ctx.close();
  };
}

export default { render };
