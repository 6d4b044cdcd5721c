// LiveTimeline front end: one canvas, the timeline's lanes (sent by the kernel; the last is errors), a shared time axis.
// The kernel pushes new rows a few times per second as columns; this view keeps its own copy and
// redraws once per push (on the next animation frame). No build step: anywidget loads this file.

const LANE_H = 24; // sent events in the upper half of a lane, received in the lower
const AXIS_H = 18;
const LABEL_W = 100;
const PAD_R = 10;
const HIT_PX = 6;

function niceStep(span, px) {
  const raw = span / Math.max(1, px / 90); // about one label per 90 px
  const pow = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

function render({ model, el: root }) {
  const stats = { rows: 0, draws: 0, pushes: 0, selected: -1, disconnected: "", following: true };
  hooks().timelines.push(stats);

  // Columns of the rows received, in seq order.
  const seq = [], t = [], lane = [], sent = [], bulk = [], type = [];
  let lastSeq = -1;

  const box = el("div", "rtnb-timeline");
  const head = el("div", "rtnb-tl-head");
  const title = el("b", "", "Live timeline");
  const followLabel = el("label", "rtnb-tl-follow");
  const follow = el("input");
  follow.type = "checkbox";
  follow.checked = true;
  followLabel.append(follow, " follow");
  const count = el("span", "rtnb-tl-count", "0 events");
  const hover = el("span", "rtnb-tl-hover");
  const banner = el("span", "rtnb-tl-banner");
  head.append(title, followLabel, count, hover, banner);
  const wrap = el("div", "rtnb-tl-canvas");
  const canvas = el("canvas");
  wrap.append(canvas);
  const json = el("pre", "rtnb-tl-json");
  box.append(head, wrap, json);
  root.append(box);
  const ctx = canvas.getContext("2d");

  let view = null; // [t0, t1] while not following
  let queued = false;

  function lanes() { return model.get("lanes") || []; }
  function plotWidth() { return Math.max(50, (wrap.clientWidth || 800) - LABEL_W - PAD_R); }

  function range() {
    if (view) return view;
    const win = model.get("window_s") || 30;
    const tmax = t.length ? t[t.length - 1] : 0;
    const t1 = Math.max(win, tmax + 0.02 * win);
    return [t1 - win, t1];
  }

  function xOf(time, r) { return LABEL_W + ((time - r[0]) / (r[1] - r[0])) * plotWidth(); }
  function timeOf(x, r) { return r[0] + ((x - LABEL_W) / plotWidth()) * (r[1] - r[0]); }

  // First index with t >= time. Rows arrive in seq order, which is recording order: times ascend.
  function lowerBound(time) {
    let lo = 0, hi = t.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (t[mid] < time) lo = mid + 1; else hi = mid; }
    return lo;
  }

  function schedule() {
    if (queued) return;
    queued = true;
    requestAnimationFrame(draw);
  }

  function draw() {
    queued = false;
    const names = lanes();
    const width = wrap.clientWidth || 800;
    const height = AXIS_H + names.length * LANE_H;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      canvas.style.height = `${height}px`;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const fg = getComputedStyle(box).color || "#333";
    const r = range();
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "middle";
    names.forEach((name, i) => {
      const y = AXIS_H + i * LANE_H;
      ctx.fillStyle = i % 2 ? "rgba(127,127,127,0.06)" : "rgba(127,127,127,0.13)";
      ctx.fillRect(LABEL_W, y, width - LABEL_W - PAD_R, LANE_H);
      ctx.fillStyle = fg;
      ctx.fillText(name, 4, y + LANE_H / 2);
    });
    const step = niceStep(r[1] - r[0], plotWidth());
    ctx.fillStyle = fg;
    ctx.strokeStyle = "rgba(127,127,127,0.35)";
    for (let s = Math.ceil(r[0] / step) * step; s <= r[1]; s += step) {
      const x = xOf(s, r);
      ctx.fillText(`${+s.toFixed(3)} s`, x + 2, AXIS_H / 2);
      ctx.beginPath(); ctx.moveTo(x + 0.5, AXIS_H - 4); ctx.lineTo(x + 0.5, height); ctx.stroke();
    }
    const end = lowerBound(r[1] + 1e-9);
    for (let i = lowerBound(r[0]); i < end; i++) {
      const x = Math.round(xOf(t[i], r));
      const y = AXIS_H + lane[i] * LANE_H;
      if (lane[i] === names.length - 1) ctx.fillStyle = "#c62828";
      else ctx.fillStyle = sent[i] ? "#1565c0" : "#ef6c00";
      const top = y + (sent[i] ? 2 : LANE_H / 2 + 1);
      const h = LANE_H / 2 - 3;
      if (bulk[i]) {
        ctx.globalAlpha = 0.45;
        ctx.fillRect(x, top, 1, h);
        ctx.globalAlpha = 1;
      } else if (sent[i]) {
        ctx.beginPath(); ctx.moveTo(x - 4, top); ctx.lineTo(x + 4, top + h / 2); ctx.lineTo(x - 4, top + h);
        ctx.fill();
      } else {
        ctx.fillRect(x - 1, top, 3, h);
      }
      if (seq[i] === stats.selected) {
        ctx.strokeStyle = fg; ctx.lineWidth = 1.5;
        ctx.strokeRect(x - 5, top - 1, 11, h + 2);
        ctx.lineWidth = 1;
      }
    }
    stats.draws++;
    count.textContent = `${t.length} events`;
  }

  // Nearest drawn event to a point of the canvas: same lane, within HIT_PX, and in the half of the
  // lane the point is in (a request and its answer often share a pixel column).
  function hit(ev) {
    const rect = canvas.getBoundingClientRect();
    const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    const ln = Math.floor((y - AXIS_H) / LANE_H);
    if (ln < 0 || ln >= lanes().length || x < LABEL_W) return -1;
    const wantSent = (y - AXIS_H - ln * LANE_H) < LANE_H / 2 ? 1 : 0;
    const r = range();
    const lo = lowerBound(timeOf(x - HIT_PX, r)), hi = lowerBound(timeOf(x + HIT_PX, r));
    let best = -1, bestD = Infinity;
    for (let i = lo; i < hi; i++) {
      if (lane[i] !== ln) continue;
      const d = Math.abs(xOf(t[i], r) - x) + (sent[i] === wantSent ? 0 : 2 * HIT_PX);
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  // Test hook: page coordinates of an event's mark (null when it is not in view).
  stats.pointOf = (wanted) => {
    const i = seq.indexOf(wanted);
    if (i < 0) return null;
    const r = range();
    const rect = canvas.getBoundingClientRect();
    const half = sent[i] ? LANE_H / 4 : (3 * LANE_H) / 4;
    return { x: rect.left + xOf(t[i], r), y: rect.top + AXIS_H + lane[i] * LANE_H + half };
  };

  let drag = null;
  canvas.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, moved: false, r: range() }; });
  window.addEventListener("mouseup", onUp);
  function onUp(ev) {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (d.moved) return;
    const i = hit(ev);
    if (i >= 0) {
      stats.selected = seq[i];
      model.send({ type: "select", seq: seq[i] });
      schedule();
    }
  }
  canvas.addEventListener("mousemove", (ev) => {
    if (drag && Math.abs(ev.clientX - drag.x) > 3) {
      drag.moved = true;
      const dt = ((ev.clientX - drag.x) / plotWidth()) * (drag.r[1] - drag.r[0]);
      setFollow(false);
      view = [drag.r[0] - dt, drag.r[1] - dt];
      schedule();
      return;
    }
    const i = hit(ev);
    hover.textContent = i >= 0 ? `#${seq[i]} ${sent[i] ? "→" : "←"} ${type[i]} @ ${t[i].toFixed(3)} s` : "";
  });
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = range();
    const rect = canvas.getBoundingClientRect();
    const at = timeOf(ev.clientX - rect.left, r);
    const k = ev.deltaY > 0 ? 1.25 : 0.8;
    setFollow(false);
    view = [at - (at - r[0]) * k, at + (r[1] - at) * k];
    schedule();
  }, { passive: false });

  function setFollow(on) {
    follow.checked = on;
    stats.following = on;
    if (on) view = null;
  }
  follow.addEventListener("change", () => { setFollow(follow.checked); schedule(); });

  function onRows(msg) {
    if (msg.reset) {
      for (const a of [seq, t, lane, sent, bulk, type]) a.length = 0;
      lastSeq = -1;
    }
    const n = msg.seq.length;
    for (let i = 0; i < n; i++) {
      if (msg.seq[i] <= lastSeq) continue; // already have it (a history resend crossed a push)
      seq.push(msg.seq[i]); t.push(msg.t[i]); lane.push(msg.lane[i]);
      sent.push(msg.sent[i]); bulk.push(msg.bulk[i]); type.push(msg.name[i]);
      lastSeq = msg.seq[i];
    }
    stats.rows = seq.length;
    stats.pushes++;
    schedule();
  }
  const onMsg = (msg) => { if (msg && msg.type === "rows") onRows(msg); };
  function showJson() {
    const text = model.get("selected_json");
    json.textContent = text;
    json.style.display = text ? "" : "none";
    stats.selected = model.get("selected");
  }
  function showDisconnected() {
    const why = model.get("disconnected");
    stats.disconnected = why;
    box.classList.toggle("rtnb-tl-offline", !!why);
    banner.textContent = why ? `⚠ disconnected: ${why} (recorded events stay readable)` : "";
  }
  model.on("msg:custom", onMsg);
  model.on("change:selected_json", showJson);
  model.on("change:disconnected", showDisconnected);
  model.on("change:window_s", schedule);
  const resize = new ResizeObserver(schedule);
  resize.observe(wrap);
  showJson();
  showDisconnected();
  schedule();
  model.send({ type: "hello" });

  return () => {
    model.off("msg:custom", onMsg);
    model.off("change:selected_json", showJson);
    model.off("change:disconnected", showDisconnected);
    model.off("change:window_s", schedule);
    window.removeEventListener("mouseup", onUp);
    resize.disconnect();
  };
}

export default { render };
