// The popup only reads the service worker's view; it never talks to the host.
"use strict";

const api = globalThis.browser ?? globalThis.chrome;

function show(id, text, cls) {
  const el = document.getElementById(id);
  el.textContent = text;
  el.className = cls || "";
}

async function refresh() {
  let s;
  try {
    s = await api.runtime.sendMessage({ type: "popup-state" });
  } catch (e) {
    show("helper", "extension error", "bad");
    return;
  }
  const h = s.host;
  show("helper", s.connected ? "running" : `not running${s.hostError ? `: ${s.hostError}` : ""}`,
       s.connected ? "ok" : "bad");
  show("daemon", !h ? "unknown" : h.daemon === "up" ? "reachable" : "not running",
       h && h.daemon === "up" ? "ok" : "bad");
  const pairing = h && h.pairing;
  show("paired", !h ? "unknown" : h.paired ? "yes" : pairing ? `waiting (${pairing.status})` : "no",
       h && h.paired ? "ok" : "bad");
  document.getElementById("pairing").hidden = !(pairing && pairing.code && pairing.status === "pending");
  document.getElementById("code").textContent = pairing && pairing.code ? pairing.code : "";
  document.getElementById("pair").hidden = !(h && !h.paired && !(pairing && pairing.status === "pending"));
  show("site", s.site || "(not a web page)");
  const st = s.siteState;
  let who = "—";
  if (st && st.supported) {
    who = st.active || "nobody (log in)";
    if (st.pending) who += ` · pending ${st.pending.type}`;
  } else if (s.declared && s.declared.api === "login-status") {
    who = "signed in (Login Status API)";
  } else if (st) {
    who = "not declared";
  }
  show("active", who);
}

document.getElementById("pair").addEventListener("click", async () => {
  await api.runtime.sendMessage({ type: "pair" });
  setTimeout(refresh, 300);
});

refresh();
setInterval(refresh, 1000);
