// Call widget front end: the page holds the RTCPeerConnection (microphone track, remote audio played
// here, the "oai-events" data channel); the kernel does the SDP exchange (no key ever reaches this page),
// keeps the record and steers. Every data-channel message is forwarded to the kernel with the page's
// clock; the microphone audio sent and the answer audio played are tapped (the Mic's AudioWorklet, sent
// by the kernel as the `worklet` trait) and forwarded too. No build step: anywidget loads this as is.

const PERMISSION_TIMEOUT_MS = 15000;
const CONNECT_TIMEOUT_MS = 10000;   // offer -> data channel open, else a visible failure
// No ping from the kernel (one every 2 s) for this long during a call: it died without the front end
// noticing (a restart JupyterLab sees disposes this view, whose cleanup hangs up at once). Generous:
// a kernel whose loop is busy with the engine on a loaded machine can miss pings for seconds.
const KERNEL_BUSY_MS = 15000;  // the kernel's pings come every 2 s: note a silence this long
const KERNEL_SILENT_MS = 180000;
const KERNEL_GONE_MS = 5000;  // no ping this long while the peer connection is down: the kernel's engine died  // ... and hang up after this long (see the watch below)
const AUDIBLE = 0.01;               // |sample| above this is audible (-40 dBFS)
const QUIET_MS = 300;               // ... after this much quiet, a new onset
const RX_RATE = 48000, RX_CHUNK = 2880;  // the played-audio tap: 60 ms per message (three 20 ms frames)

// getUserMedia errors -> the kernel's failure kinds (realtime_nb.widgets.call_state.FAILURES)
function mediaFailure(err) {
  const name = (err && err.name) || "Error";
  const kind = {
    NotAllowedError: "permission_denied", SecurityError: "permission_denied", NotFoundError: "no_microphone",
    OverconstrainedError: "no_microphone", NotReadableError: "no_microphone", TimeoutError: "permission_timeout",
  }[name] || "page_error";
  return { kind, message: `${name}: ${(err && err.message) || err}` };
}

let workletUrl = null;

function render({ model, el: root }) {
  const view = Math.random().toString(36).slice(2, 10);
  const stats = {
    view, state: "idle", connection: "", ice: "", dcReceived: 0, dcSent: 0, txChunks: 0, txSamples: 0,
    rxSamples: 0, rxAudibleSamples: 0, firstAudibleMs: null, audibleOnsets: [], outputBuffer: [],
    error: "", contextRate: 0, device: "",
  };
  hooks().calls.push(stats);

  const box = el("div", "rtnb-audio rtnb-call");
  const callBtn = el("button", "rtnb-start", "📞 Call");
  const stopBtn = el("button", "rtnb-stop", "■ Stop answer");
  const device = el("select", "rtnb-device");
  const ecLabel = el("label", "rtnb-ec");
  const ec = el("input"); ec.type = "checkbox";
  ecLabel.append(ec, " echo cancellation");
  const meter = el("div", "rtnb-meter"); const bar = el("div", "rtnb-meter-bar"); meter.append(bar);
  const row = el("div", "rtnb-row");
  row.append(callBtn, stopBtn, meter, device, ecLabel);
  const info = el("div", "rtnb-info");
  const obuf = el("div", "rtnb-info rtnb-obuf", "output buffer: –");
  const error = el("div", "rtnb-error");
  const player = el("audio"); player.autoplay = true;
  box.append(row, info, obuf, error, player);
  root.append(box);

  let call = null;            // {pc, dc, stream, ctx, tx, rx} while a call exists in this view
  let lastPing = performance.now();
  let quietSince = 0, audible = false;

  const send = (msg, buffers) => model.send({ ...msg, t_page: performance.now() }, undefined, buffers);

  function showInfo() {
    const s = model.get("status") || {};
    const owner = model.get("owner_view");
    const st = model.get("state");
    const mine = !owner || owner === view;
    stats.state = st;
    callBtn.textContent = call ? "✕ Hang up" : "📞 Call";
    callBtn.disabled = !mine && (st === "starting" || st === "connected");
    stopBtn.disabled = !call || !call.dc || call.dc.readyState !== "open";
    const where = model.get("service") || "";
    const spectator = mine ? "" : " · running in another view of this widget";
    info.textContent = `${st} · ${where}` + (call ? ` · ICE ${stats.ice || "new"} · events ${stats.dcReceived} in / ${stats.dcSent} out` : "") +
      (s.clock_uncertainty_ms != null ? ` · clock ±${s.clock_uncertainty_ms} ms` : "") +
      (s.alignment_ms != null ? ` · sent-audio alignment ${s.alignment_ms} ms` : "") + spectator;
    const err = model.get("error");
    error.textContent = err ? `⚠ ${err}` : "";
  }

  function publish() {
    model.set("page_stats", { ...stats, audibleOnsets: stats.audibleOnsets.slice(-50), outputBuffer: stats.outputBuffer.slice(-50) });
    model.save_changes();
  }

  function fail(kind, message) {
    stats.error = `${kind}: ${message}`;
    error.textContent = `⚠ ${message}`;
    send({ type: "error", kind, message });
    teardown();
  }

  function teardown() {
    const c = call; call = null;
    if (!c) return;
    clearTimeout(c.timer);
    try { if (c.dc) c.dc.close(); } catch (e) { /* already closed */ }
    try { c.pc.close(); } catch (e) { /* already closed */ }
    if (c.stream) c.stream.getTracks().forEach((t) => t.stop());
    if (c.ctx) c.ctx.close().catch(() => {});
    player.srcObject = null;
    stats.connection = "closed";
    showInfo(); publish();
  }

  const refreshDevices = () => fillMicrophones(device, model.get("device_id"));


  async function tapNode(ctx, source, targetRate, chunkSamples, onChunk, gate) {
    if (!workletUrl) workletUrl = URL.createObjectURL(new Blob([model.get("worklet")], { type: "application/javascript" }));
    await ctx.audioWorklet.addModule(workletUrl);
    const node = new AudioWorkletNode(ctx, "rtnb-capture", {
      numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
      processorOptions: { targetRate, chunkSamples, gate },
    });
    node.port.onmessage = (e) => { if (e.data.kind === "chunk") onChunk(e.data); else if (e.data.kind === "level") setLevel(e.data.level); };
    source.connect(node);
    node.connect(ctx.destination); // rendered only while connected; it outputs silence
    return node;
  }

  function setLevel(rms) {
    const db = rms > 0 ? 20 * Math.log10(rms) : -90;
    bar.style.width = `${Math.max(0, Math.min(1, (db + 60) / 60)) * 100}%`;
  }

  function onTx(m) {
    const pcmRate = model.get("pcm_rate");
    send({ type: "tx", seq: m.seq, t_capture: performance.now(), rate: pcmRate, level: m.level }, [m.pcm]);
    stats.txChunks++; stats.txSamples += m.pcm.byteLength / 2;
    setLevel(m.level);
  }

  function onRx(m) {
    const now = performance.now();
    const pcm = new Int16Array(m.pcm);
    let first = -1;
    for (let i = 0; i < pcm.length; i++) if (Math.abs(pcm[i]) > AUDIBLE * 32768) { first = i; break; }
    const tFrame = now - pcm.length * 1000 / RX_RATE;  // when the frame's first sample was played
    stats.rxSamples += pcm.length;
    if (first >= 0) {
      const t = tFrame + first * 1000 / RX_RATE;
      stats.rxAudibleSamples += pcm.length - first;
      if (!audible && (stats.firstAudibleMs === null || t - quietSince >= QUIET_MS)) {
        if (stats.firstAudibleMs === null) stats.firstAudibleMs = t;
        stats.audibleOnsets.push(t);
        model.send({ type: "audible", t_page: t });
      }
      audible = true;
    } else if (audible) { audible = false; quietSince = now; }
    model.send({ type: "rx", t_page: tFrame }, undefined, [m.pcm]);
  }

  function onDcMessage(e) {
    const t = performance.now();
    stats.dcReceived++;
    model.send({ type: "dc", data: e.data, t_page: t });
    let ev = null;
    try { ev = JSON.parse(e.data); } catch (err) { return; }
    if (ev && typeof ev.type === "string" && ev.type.startsWith("output_audio_buffer.")) {
      const what = ev.type.slice("output_audio_buffer.".length);
      stats.outputBuffer.push({ type: ev.type, response_id: ev.response_id || null, t_page: t });
      obuf.textContent = `output buffer: ${what}${ev.response_id ? ` (${ev.response_id})` : ""}`;
      obuf.dataset.state = what;
    }
  }

  function dcSend(text, byPage) {
    if (!call || !call.dc || call.dc.readyState !== "open") return false;
    call.dc.send(text);
    stats.dcSent++;
    if (byPage) model.send({ type: "page_sent", data: text, t_page: performance.now() });
    return true;
  }

  function stopAnswer() {
    const id = () => `evt_page_${Math.random().toString(36).slice(2, 14)}`;
    dcSend(JSON.stringify({ type: "response.cancel", event_id: id() }), true);
    dcSend(JSON.stringify({ type: "output_audio_buffer.clear", event_id: id() }), true);
  }

  // Runs synchronously in the click handler up to the AudioContext: only a user gesture starts audio.
  function startCall(fromKernel) {
    if (call) return;
    lastPing = performance.now();  // the kernel's silence counts from this call's start, not the render
    error.textContent = ""; stats.error = "";
    if (!fromKernel) send({ type: "start", view });
    if (!window.isSecureContext) { fail("insecure_origin", `${location.origin} is not a secure context`); return; }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.RTCPeerConnection) {
      fail("no_media_devices", "navigator.mediaDevices.getUserMedia or RTCPeerConnection is missing"); return;
    }
    let ctx;
    try { ctx = new AudioContext({ sampleRate: RX_RATE }); } catch (err) { fail("page_error", String(err)); return; }
    ctx.resume();
    const c = { pc: null, dc: null, stream: null, ctx, tx: null, rx: null, timer: null, reached: false };
    call = c;
    stats.audibleOnsets = []; stats.outputBuffer = []; stats.firstAudibleMs = null;
    stats.dcReceived = 0; stats.dcSent = 0; stats.txChunks = 0; stats.rxSamples = 0; stats.rxAudibleSamples = 0;
    const constraints = { channelCount: 1, echoCancellation: model.get("echo_cancellation"), noiseSuppression: false, autoGainControl: false };
    if (model.get("device_id")) constraints.deviceId = { exact: model.get("device_id") };
    (async () => {
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject({ name: "TimeoutError", message: `no answer after ${PERMISSION_TIMEOUT_MS / 1000} s` }), PERMISSION_TIMEOUT_MS);
      });
      try {
        c.stream = await Promise.race([navigator.mediaDevices.getUserMedia({ audio: constraints }), timeout]);
      } catch (err) {
        clearTimeout(timer);
        if (call === c) { const f = mediaFailure(err); fail(f.kind, f.message); }
        return;
      }
      clearTimeout(timer);
      if (call !== c) { c.stream.getTracks().forEach((t) => t.stop()); return; }
      const track = c.stream.getAudioTracks()[0];
      stats.device = track ? track.label : ""; stats.contextRate = ctx.sampleRate;
      refreshDevices().catch(() => {});
      const pc = new RTCPeerConnection({ iceServers: [] });
      c.pc = pc;
      pc.addTrack(track, c.stream);
      const dc = pc.createDataChannel("oai-events");
      c.dc = dc;
      dc.onopen = () => { send({ type: "open" }); showInfo(); };
      dc.onmessage = onDcMessage;
      dc.onclose = () => { if (call === c) send({ type: "connection", state: "closed", ice: pc.iceConnectionState, reached: c.reached }); };
      pc.ontrack = async (e) => {
        const remote = e.streams[0] || new MediaStream([e.track]);
        player.srcObject = remote;
        player.play().catch(() => {});
        try {
          c.rx = await tapNode(ctx, ctx.createMediaStreamSource(remote), RX_RATE, RX_CHUNK, onRx, true);
        } catch (err) { stats.error = `played-audio tap: ${err}`; }
      };
      pc.onconnectionstatechange = () => {
        stats.connection = pc.connectionState; stats.ice = pc.iceConnectionState;
        if (pc.connectionState === "connected") {
          c.reached = true; clearTimeout(c.timer);
          // the service's audio clock starts with the first frame it receives: start the tap now
          if (c.tx) c.tx.port.postMessage({ cmd: "gate", on: true });
        }
        if (call === c) send({ type: "connection", state: pc.connectionState, ice: pc.iceConnectionState, reached: c.reached });
        if (pc.connectionState === "failed" && call === c) {
          error.textContent = "⚠ the WebRTC connection failed"; teardown();
        }
        showInfo();
      };
      try {
        c.tx = await tapNode(ctx, ctx.createMediaStreamSource(c.stream), model.get("pcm_rate"),
          Math.round(model.get("pcm_rate") * 0.04), onTx, false);
        await pc.setLocalDescription(await pc.createOffer());
        await new Promise((resolve) => {  // all candidates in the offer: the kernel does one POST
          if (pc.iceGatheringState === "complete") return resolve();
          const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
          pc.addEventListener("icegatheringstatechange", done);
          setTimeout(resolve, 2000);
        });
      } catch (err) { if (call === c) fail("page_error", String(err)); return; }
      if (call !== c) return;
      c.timer = setTimeout(() => {
        if (call === c && !c.reached) fail("timeout", `not connected ${CONNECT_TIMEOUT_MS / 1000} s after the offer (ICE ${pc.iceConnectionState})`);
      }, CONNECT_TIMEOUT_MS);
      send({ type: "offer", sdp: pc.localDescription.sdp });
      showInfo();
    })();
  }

  async function onAnswer(sdp) {
    const c = call;
    if (!c || !c.pc) return;
    try { await c.pc.setRemoteDescription({ type: "answer", sdp }); } catch (err) { fail("page_error", `answer: ${err}`); }
  }

  const onMsg = (msg) => {
    if (!msg || typeof msg.type !== "string") return;
    if (msg.type === "ping") { lastPing = performance.now(); model.send({ type: "pong", id: msg.id, t_page: performance.now() }); }
    else if (msg.type === "start" && (!msg.view || msg.view === view)) startCall(true);
    else if (msg.type === "answer") onAnswer(msg.sdp);
    else if (msg.type === "send") dcSend(msg.data, false);
    else if (msg.type === "hangup" || msg.type === "fail") { teardown(); if (msg.message) error.textContent = `⚠ ${msg.message}`; }
    else if (msg.type === "refused" && msg.view === view) { teardown(); error.textContent = `⚠ ${msg.message}`; }
  };
  model.on("msg:custom", onMsg);
  model.on("change:status", showInfo);
  model.on("change:state", showInfo);
  model.on("change:error", showInfo);
  model.on("change:owner_view", showInfo);

  callBtn.addEventListener("click", () => {
    if (call) { send({ type: "hangup" }); teardown(); } else startCall(false);
  });
  stopBtn.addEventListener("click", stopAnswer);
  ec.checked = model.get("echo_cancellation");
  ec.addEventListener("change", () => { model.set("echo_cancellation", ec.checked); model.save_changes(); });
  device.addEventListener("change", () => { model.set("device_id", device.value); model.save_changes(); });
  refreshDevices().catch(() => {});

  // A call whose kernel stopped answering (restarted, died) must not keep the microphone open.
  let lastTick = performance.now();
  const watch = setInterval(() => {
    const now = performance.now();
    if (now - lastTick > 3000) lastPing = now;  // this page itself was stalled: not the kernel's silence
    lastTick = now;
    // A kernel that restarts disposes this view (the cleanup below hangs up at once), and the
    // embedded engine dies with its kernel (the peer connection fails). Silence alone is weak
    // evidence: a busy kernel (a long cell, a loaded machine) or JupyterLab holding comm messages
    // while a cell runs looks the same. So: a note after KERNEL_BUSY_MS, a hangup only after
    // KERNEL_SILENT_MS, so that a call to the cloud whose kernel died does not keep the mic open.
    const silent = now - lastPing;
    const mediaDown = call && call.pc && ["disconnected", "failed"].includes(call.pc.connectionState);
    if (call && call.reached && mediaDown && silent > KERNEL_GONE_MS) {
      // both at once: the kernel went quiet and the peer (the engine inside it) stopped answering
      teardown();
      error.textContent = "⚠ the kernel and its engine stopped answering (restarted?): the call was closed. Run the cell again for a new Call.";
      stats.error = "kernel_restarted";
    } else if (call && call.reached && silent > KERNEL_SILENT_MS) {
      teardown();
      error.textContent = `⚠ no word from the kernel for ${Math.round(silent / 1000)} s (restarted or dead?): the call was closed. Run the cell again for a new Call.`;
      stats.error = "kernel_restarted";
    } else if (call && call.reached && silent > KERNEL_BUSY_MS) {
      error.textContent = `the kernel has not answered for ${Math.round(silent / 1000)} s (busy?); the call goes on`;
      stats.kernelQuietMs = silent;
    } else if (stats.kernelQuietMs) {
      error.textContent = ""; stats.kernelQuietMs = 0;
    }
    publish();
  }, 1000);
  const onHide = () => { if (call) { send({ type: "hangup", reason: "page_closed" }); teardown(); } };
  window.addEventListener("pagehide", onHide);
  send({ type: "hello", view });
  showInfo();

  return () => {
    clearInterval(watch);
    window.removeEventListener("pagehide", onHide);
    model.off("msg:custom", onMsg);
    model.off("change:status", showInfo);
    model.off("change:state", showInfo);
    model.off("change:error", showInfo);
    model.off("change:owner_view", showInfo);
    if (call) { send({ type: "hangup" }); teardown(); }
  };
}

export default { render };
