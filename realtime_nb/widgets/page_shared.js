// Helpers every widget page uses. Python prepends this file to each widget's module (widgets/esm.py):
// anywidget loads each widget's module on its own, so one file shared by import is not an option.

// The test hooks: every widget's figures, by kind, for the browser tests to read (window.__rtnb).
function hooks() {
  const h = (window.__rtnb = window.__rtnb || {});
  for (const kind of ["mics", "players", "timelines", "calls"]) h[kind] = h[kind] || [];
  return h;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// Fill a <select> with the page's microphones, `selected` (a deviceId, "" = default) chosen if present.
async function fillMicrophones(select, selected) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
  const list = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "audioinput");
  select.replaceChildren();
  const def = el("option", "", "default microphone"); def.value = ""; select.append(def);
  list.forEach((d, i) => {
    if (d.deviceId === "default" || !d.deviceId) return;
    const o = el("option", "", d.label || `microphone ${i + 1}`); o.value = d.deviceId; select.append(o);
  });
  select.value = selected;
  if (select.value !== selected) select.value = "";
}
