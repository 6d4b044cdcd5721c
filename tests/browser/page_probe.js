// Page-side probe for the browser tests and benchmarks/bench_call_page.py, installed with Playwright's
// `add_init_script` before JupyterLab loads. It changes nothing the widgets do; it watches, on the
// page's own clock (performance.now(), ms):
//
// * the microphone: `getUserMedia` is wrapped; the stream it returns is tapped by a level detector
//   (an AudioWorklet in the probe's own AudioContext). The fake microphone plays a file whose speech
//   is surrounded by digital silence, so "speech starts" / "speech ends" are the first sample above
//   MIC_LEVEL after MIC_QUIET_MS of quiet and the last one before it (within a render quantum);
// * what the page plays: every remote WebRTC track (`RTCPeerConnection` is wrapped) and every
//   WebAudio node connected to a context's destination (the Player) pass through the same detector
//   at -40 dBFS (OUT_LEVEL); each onset after OUT_QUIET_MS of quiet is recorded with its source;
// * the data channels: every message received and sent, by event type;
// * the peer connections: their connection / ICE states over time;
// * the page's traffic to the Jupyter server (kernel WebSocket frames, fetch bodies), kept as text so
//   a test can search it for a secret (frames are cut at FRAME_KEEP characters: the JSON of a message
//   comes before its binary buffers).
//
// A detector's time is its context's render time of the sample (frame / sampleRate), moved to the
// page clock on receipt by `performance.now() - (ctx.currentTime - t) * 1000`: the message's own
// delay cancels out (both clocks have advanced by it), what remains is the render quantum and the
// audio callback's buffer. The same rule is applied to every source, so differences are fair.
(() => {
  if (window.__rtnbProbe) return;
  const MIC_LEVEL = 0.001, MIC_QUIET_MS = 400;  // -60 dBFS: the file's digital silence vs its speech
  const OUT_LEVEL = 0.01, OUT_QUIET_MS = 150;   // -40 dBFS: "audible"
  const FRAME_KEEP = 262144;
  const P = (window.__rtnbProbe = {
    micOpened: [], mic: [], out: [], dc: [], pcs: [], traffic: [], trafficDir: [], trafficT: [], trafficChars: 0,
    errors: [],
  });
  const now = () => performance.now();

  const DETECTOR = `
class RtnbDetector extends AudioWorkletProcessor {
  constructor(o) {
    super();
    this.level = o.processorOptions.level;
    this.quiet = Math.round(o.processorOptions.quietMs / 1000 * sampleRate);
    this.loud = false; this.last = -1e12;
  }
  process(inputs) {
    const input = inputs[0];
    if (!input || !input.length) return true;
    const n = input[0].length;
    for (let i = 0; i < n; i++) {
      let x = 0;
      for (let c = 0; c < input.length; c++) { const v = Math.abs(input[c][i]); if (v > x) x = v; }
      if (x >= this.level) {
        const f = currentFrame + i;
        if (!this.loud && f - this.last > this.quiet) this.port.postMessage({ kind: "on", t: f / sampleRate });
        this.loud = true; this.last = f;
      }
    }
    if (this.loud && currentFrame + n - this.last > this.quiet) {
      this.loud = false;
      this.port.postMessage({ kind: "off", t: (this.last + 1) / sampleRate });
    }
    return true;
  }
}
registerProcessor("rtnb-detector", RtnbDetector);`;
  const detectorUrl = URL.createObjectURL(new Blob([DETECTOR], { type: "application/javascript" }));
  const ready = new WeakMap();  // context -> promise of its worklet module

  function attachDetector(ctx, node, opts, record) {
    if (!ready.has(ctx)) ready.set(ctx, ctx.audioWorklet.addModule(detectorUrl));
    ready.get(ctx).then(() => {
      const det = new AudioWorkletNode(ctx, "rtnb-detector",
        { numberOfInputs: 1, numberOfOutputs: 0, processorOptions: opts });
      det.port.onmessage = (e) => {
        const t = now() - (ctx.currentTime - e.data.t) * 1000;
        record({ kind: e.data.kind, t, ctxRate: ctx.sampleRate });
      };
      origConnect.call(node, det);
    }).catch((e) => P.errors.push(`detector: ${e}`));
  }

  let probeCtx = null;
  function probeContext() {
    if (!probeCtx) probeCtx = new AudioContext();
    if (probeCtx.state !== "running") probeCtx.resume();
    return probeCtx;
  }

  function tapStream(stream, source, level, quietMs, list) {
    const ctx = probeContext();
    const src = ctx.createMediaStreamSource(stream);
    attachDetector(ctx, src, { level, quietMs }, (m) => list.push({ ...m, source }));
  }

  // --- the microphone
  const md = navigator.mediaDevices;
  if (md && md.getUserMedia) {
    const origGUM = md.getUserMedia.bind(md);
    md.getUserMedia = async (constraints) => {
      const asked = now();
      try {
        const stream = await origGUM(constraints);
        P.micOpened.push({ asked, opened: now() });
        if (stream.getAudioTracks().length) tapStream(stream, "mic", MIC_LEVEL, MIC_QUIET_MS, P.mic);
        return stream;
      } catch (e) {
        P.micOpened.push({ asked, failed: now(), error: `${e && e.name}: ${e && e.message}` });
        throw e;
      }
    };
  }

  // --- what WebAudio plays (the Player): any node connected to a destination is tapped once
  const origConnect = AudioNode.prototype.connect;
  const tapped = new WeakSet();
  AudioNode.prototype.connect = function (dest, ...rest) {
    const r = origConnect.call(this, dest, ...rest);
    try {
      if (dest instanceof AudioDestinationNode && this.context !== probeCtx && !tapped.has(this)) {
        tapped.add(this);
        attachDetector(this.context, this, { level: OUT_LEVEL, quietMs: OUT_QUIET_MS },
          (m) => P.out.push({ ...m, source: "webaudio" }));
      }
    } catch (e) { P.errors.push(`connect: ${e}`); }
    return r;
  };

  // --- data channels
  function watchChannel(ch) {
    const type = (data) => {
      try { return JSON.parse(data).type || "?"; } catch (_) { return "(not json)"; }
    };
    ch.addEventListener("message", (e) => P.dc.push({ dir: "received", type: type(e.data), t: now() }));
    const origSend = ch.send.bind(ch);
    ch.send = (data) => { P.dc.push({ dir: "sent", type: type(data), t: now() }); return origSend(data); };
  }

  // --- peer connections: states, remote tracks (tapped and kept flowing), data channels
  const OrigPC = window.RTCPeerConnection;
  const records = new WeakMap();
  if (OrigPC) {
    class ProbedPC extends OrigPC {
      constructor(...args) {
        super(...args);
        const rec = { created: now(), states: [], closed: null };
        P.pcs.push(rec); records.set(this, rec);
        const note = () => rec.states.push({ t: now(), connection: this.connectionState,
          ice: this.iceConnectionState, gathering: this.iceGatheringState });
        this.addEventListener("connectionstatechange", note);
        this.addEventListener("iceconnectionstatechange", note);
        this.addEventListener("track", (e) => {
          if (e.track.kind !== "audio") return;
          const stream = new MediaStream([e.track]);
          // Chromium feeds a remote track into WebAudio only while a media element plays it too.
          const el = new Audio(); el.muted = true; el.srcObject = stream;
          el.play().catch(() => {});
          tapStream(stream, "rtc", OUT_LEVEL, OUT_QUIET_MS, P.out);
        });
        this.addEventListener("datachannel", (e) => watchChannel(e.channel));
      }
      createDataChannel(...args) {
        const ch = super.createDataChannel(...args);
        watchChannel(ch);
        return ch;
      }
      close() {
        const rec = records.get(this);
        if (rec && rec.closed === null) rec.closed = now();
        return super.close();
      }
    }
    window.RTCPeerConnection = ProbedPC;
  }

  // --- traffic to the Jupyter server, as text, for secret searches
  const keep = (text, dir) => {
    const s = text.length > FRAME_KEEP ? text.slice(0, FRAME_KEEP) : text;
    P.traffic.push(s); P.trafficChars += s.length; P.trafficDir.push(dir); P.trafficT.push(now());
  };
  const asText = (data) => {
    if (typeof data === "string") return data;
    try {
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
        : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
      return bytes ? new TextDecoder("latin1").decode(bytes.subarray(0, FRAME_KEEP)) : "";
    } catch (_) { return ""; }
  };
  const OrigWS = window.WebSocket;
  class ProbedWS extends OrigWS {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        if (typeof e.data === "string") keep(e.data, "in");
        else if (e.data instanceof Blob) e.data.arrayBuffer().then((b) => keep(asText(b), "in"));
        else keep(asText(e.data), "in");
      });
    }
    send(data) { keep(asText(data), "out"); return super.send(data); }
  }
  window.WebSocket = ProbedWS;
  const origFetch = window.fetch.bind(window);
  window.fetch = (input, init) => {
    try {
      const url = typeof input === "string" ? input : input && input.url;
      keep(`${url} ${init && typeof init.body === "string" ? init.body : ""}`, "fetch");
    } catch (_) { /* never break the page */ }
    return origFetch(input, init);
  };
})();
