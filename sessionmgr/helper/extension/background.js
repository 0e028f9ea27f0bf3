// The service worker: one native port to sessionmgr-helper, the latest
// declaration per site (re-sent whenever the port is re-opened), cookie names
// added to each declaration, the focused site reported on its own, silent
// logins (seed 001) relayed for the tab's site, and sessionmgr's events routed
// to a tab.
"use strict";

if (typeof importScripts === "function" && !globalThis.SessionmgrSchema) {
  importScripts("schema.js"); // Chromium; Firefox lists schema.js in background.scripts
}

const api = globalThis.browser ?? globalThis.chrome;
const HOST = "org.sessionmgr.helper";
const { validateSessions, bindingOf } = globalThis.SessionmgrSchema;
const MAX_SITES = 500;
const MAX_COOKIE_NAMES = 500;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;

const state = {
  port: null,
  backoff: BACKOFF_MIN_MS,
  reconnectTimer: null,
  hostError: null, // why the port closed, shown in the popup
  host: null, // the host's latest "status" message
  latest: new Map(), // site -> {sessions, origin, api?}
  bindings: new Map(), // site -> bound cookie name (R5)
  cookiePresence: new Map(), // site -> was the bound cookie present when last sent
  sessionsSites: new Set(), // sites that used navigator.id.sessions (Login Status is then ignored)
  siteStates: new Map(), // site -> SiteState from the daemon, for the popup
  focusedSite: null,
  reportedFocus: undefined, // what the host was last told (undefined: nothing yet)
  silent: new Map(), // request number -> resolve, for silent logins in flight
  chains: new Map(), // site -> promise: keeps one site's messages in order
};

// ---- persistence (storage.session survives service-worker restarts) ----

const ready = (async () => {
  try {
    const s = await api.storage.session.get(["latest", "bindings"]);
    for (const [k, v] of Object.entries(s.latest || {})) state.latest.set(k, v);
    for (const [k, v] of Object.entries(s.bindings || {})) state.bindings.set(k, v);
    const l = await api.storage.local.get(["sessionsSites"]);
    for (const site of l.sessionsSites || []) state.sessionsSites.add(site);
  } catch (e) {
    console.warn("sessionmgr: could not restore state", e);
  }
})();

let saveTimer = null;
function save() {
  if (saveTimer) return;
  saveTimer = setTimeout(() => {
    saveTimer = null;
    api.storage.session.set({
      latest: Object.fromEntries(state.latest),
      bindings: Object.fromEntries(state.bindings),
    }).catch(() => {});
    api.storage.local.set({ sessionsSites: [...state.sessionsSites].slice(-MAX_SITES) })
      .catch(() => {});
  }, 100);
}

// Each declaration gets a number; the host echoes it once the daemon has it,
// so after a reconnect only confirmed ones are re-sent as mere replays.
let seqCounter = 0;
function nextSeq() {
  seqCounter = (seqCounter + 1) % 1000;
  return Date.now() * 1000 + seqCounter;
}

function remember(site, entry) {
  entry.seq = nextSeq();
  entry.confirmed = false;
  state.latest.delete(site); // re-insert: Map order is then least recently declared first
  state.latest.set(site, entry);
  while (state.latest.size > MAX_SITES) {
    state.latest.delete(state.latest.keys().next().value);
  }
  save();
}

// ---- helpers ----

function siteOf(url) {
  try {
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") return null;
    return { site: u.hostname.replace(/\.$/, "").toLowerCase(), origin: u.origin };
  } catch (e) {
    return null;
  }
}

function inOrder(site, task) {
  const next = (state.chains.get(site) || Promise.resolve()).then(task).catch((e) => {
    console.warn("sessionmgr:", e);
  });
  state.chains.set(site, next);
  next.then(() => { if (state.chains.get(site) === next) state.chains.delete(site); });
  return next;
}

function domainMatches(site, cookieDomain) {
  const d = cookieDomain.replace(/^\./, "").toLowerCase();
  return site === d || site.endsWith("." + d);
}

// Names (never values) of the cookies the browser would send to the site.
async function cookieNames(site, origin) {
  const names = new Set();
  try {
    const [byUrl, byDomain] = await Promise.all([
      api.cookies.getAll({ url: origin + "/" }),
      api.cookies.getAll({ domain: site }),
    ]);
    for (const c of byUrl) names.add(c.name);
    for (const c of byDomain) if (domainMatches(site, c.domain)) names.add(c.name);
  } catch (e) {
    console.warn("sessionmgr: cookies unavailable", e);
  }
  return [...names].filter((n) => n.length > 0).sort().slice(0, MAX_COOKIE_NAMES);
}

function post(message) {
  if (!state.port) return false;
  try {
    state.port.postMessage(message);
    return true;
  } catch (e) {
    return false;
  }
}

async function sendDeclaration(site, { replay = false } = {}) {
  const entry = state.latest.get(site);
  if (!entry) return;
  const cookies = await cookieNames(site, entry.origin);
  const bound = state.bindings.get(site);
  if (bound) state.cookiePresence.set(site, cookies.includes(bound));
  const message = {
    type: "declaration",
    site,
    sessions: entry.sessions,
    cookies,
    focused: site === state.focusedSite,
  };
  if (entry.api) message.api = entry.api;
  if (message.focused) state.reportedFocus = site; // a focused declaration moves focus too
  message.seq = entry.seq;
  // A replay must not clear a pending action; an unconfirmed one is news.
  if (replay && entry.confirmed) message.replay = true;
  post(message);
}

// ---- messages from content scripts and the popup ----

async function onPageMessage(message, sender) {
  await ready;
  if (sender.frameId !== 0 || !sender.tab || !sender.url) return;
  const where = siteOf(sender.url);
  if (!where) return;
  const { site, origin } = where;
  if (sender.tab.active) await refreshFocus();
  if (message.type === "declaration") {
    const result = validateSessions(message.sessions);
    if (!result.ok) return;
    state.sessionsSites.add(site);
    const binding = bindingOf(result.sessions);
    if (binding === null) state.bindings.delete(site);
    else if (binding !== undefined) state.bindings.set(site, binding);
    remember(site, { sessions: result.sessions, origin });
    await inOrder(site, () => sendDeclaration(site));
  } else if (message.type === "login-status") {
    if (state.sessionsSites.has(site)) return;
    const sessions = message.status === "logged-in" ? [{ email: "(signed in)" }] : [];
    remember(site, { sessions, origin, api: "login-status" });
    await inOrder(site, () => sendDeclaration(site));
  } else if (message.type === "no-declaration") {
    // Only sites sessionmgr already knows: other sites are none of its business.
    const entry = state.latest.get(site);
    if (!entry || entry.api === "login-status") return;
    if (entry.sessions === null) return; // already "undefined"; cookie changes re-send
    remember(site, { sessions: null, origin });
    await inOrder(site, () => sendDeclaration(site));
  }
}

async function popupState() {
  await ready;
  const [tab] = await api.tabs.query({ active: true, lastFocusedWindow: true });
  const where = tab && tab.url ? siteOf(tab.url) : null;
  const site = where ? where.site : null;
  return {
    connected: state.port !== null,
    hostError: state.hostError,
    host: state.host,
    site,
    siteState: site ? state.siteStates.get(site) || null : null,
    declared: site ? state.latest.get(site) || null : null,
  };
}

// ---- silent login: an assertion for the tab's own site, signed over the page's nonce ----

const SILENT_TIMEOUT_MS = 8_000;
const NO_ASSERTION = { id: null, assertion: null };
let silentCounter = 0;

async function silentLogin(message, sender) {
  await ready;
  // The site comes from the tab's URL, never from the page; top frames only.
  if (sender.frameId !== 0 || !sender.tab || !sender.url) return NO_ASSERTION;
  const where = siteOf(sender.url);
  if (!where) return NO_ASSERTION;
  const nonce = message.nonce;
  if (nonce !== null && (typeof nonce !== "string" || nonce.length === 0 || nonce.length > 256)) {
    return NO_ASSERTION;
  }
  if (!state.port) connect();
  const rid = ++silentCounter;
  return new Promise((resolve) => {
    const timer = setTimeout(() => { state.silent.delete(rid); resolve(NO_ASSERTION); },
      SILENT_TIMEOUT_MS);
    state.silent.set(rid, (answer) => { clearTimeout(timer); resolve(answer); });
    if (!post({ type: "silent-login", site: where.site, nonce, rid })) {
      state.silent.get(rid)(NO_ASSERTION);
      state.silent.delete(rid);
    }
  });
}

function silentAnswered(message) {
  const resolve = state.silent.get(message.rid);
  if (!resolve) return;
  state.silent.delete(message.rid);
  resolve({
    id: typeof message.id === "string" ? message.id : null,
    assertion: typeof message.assertion === "string" ? message.assertion : null,
  });
}

api.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (!message || typeof message.type !== "string" || sender.id !== api.runtime.id) return;
  const fromExtensionPage = typeof sender.url === "string" &&
    sender.url.startsWith(api.runtime.getURL(""));
  if (!fromExtensionPage) {
    if (!sender.tab) return;
    if (message.type === "silent-login") {
      silentLogin(message, sender).then(sendResponse, () => sendResponse(NO_ASSERTION));
      return true; // answered asynchronously
    }
    onPageMessage(message, sender);
    return;
  }
  // The popup (or popup.html opened in a tab).
  if (message.type === "popup-state") {
    popupState().then(sendResponse);
    return true;
  }
  if (message.type === "pair") {
    if (!post({ type: "pair" })) connect();
    sendResponse({ ok: true });
  }
});

// ---- cookies: re-send when a site's bound cookie appears or disappears (R5) ----

const cookieTimers = new Map();
api.cookies.onChanged.addListener(({ cookie }) => {
  for (const [site, name] of state.bindings) {
    if (name !== cookie.name || !domainMatches(site, cookie.domain)) continue;
    // An overwrite is a removal then an addition: look once both have happened.
    clearTimeout(cookieTimers.get(site));
    cookieTimers.set(site, setTimeout(() => {
      cookieTimers.delete(site);
      inOrder(site, async () => {
        const entry = state.latest.get(site);
        if (!entry) return;
        const present = (await cookieNames(site, entry.origin)).includes(name);
        if (state.cookiePresence.get(site) === present) return;
        // Cookies only decide anything for an undefined declaration (R5); for a
        // list this is a replay, which must not clear a pending action (R10):
        // a site switching accounts drops its cookie before it redeclares.
        await sendDeclaration(site, { replay: entry.sessions !== null });
      });
    }, 30));
  }
});

// ---- focus: the active tab of the focused window ----

async function refreshFocus() {
  let site = null;
  try {
    const [tab] = await api.tabs.query({ active: true, lastFocusedWindow: true });
    const where = tab && tab.url ? siteOf(tab.url) : null;
    site = where ? where.site : null;
  } catch (e) {
    return;
  }
  state.focusedSite = site;
  // Focus goes to the daemon on its own (PUT /v1/focus): re-sending a
  // declaration for it would clear a pending login or logout (R10). Sites
  // sessionmgr does not know are reported as none.
  const report = site && state.latest.has(site) ? site : null;
  if (report === state.reportedFocus) return;
  if (post({ type: "focus", site: report })) state.reportedFocus = report;
}

api.tabs.onActivated.addListener(() => { refreshFocus(); });
api.windows.onFocusChanged.addListener(() => { refreshFocus(); });
api.tabs.onUpdated.addListener((tabId, changeInfo, tab) => {
  if (tab.active && (changeInfo.url || changeInfo.status === "complete")) refreshFocus();
});

// ---- events from sessionmgr: dispatched in one tab of the site ----

// One tab, not all: a site's login handler usually navigates to its login
// page, and doing that in every open tab would be wrong. The focused tab of
// the site wins, then the one used most recently.
async function deliverEvent(event) {
  if (!event || typeof event.site !== "string") return;
  const tabs = await api.tabs.query({ url: ["http://*/*", "https://*/*"] });
  const candidates = tabs.filter((t) => {
    const where = t.url ? siteOf(t.url) : null;
    return where && where.site === event.site;
  });
  let target = null;
  for (const t of candidates) {
    if (!target) { target = t; continue; }
    const score = (x) => [x.active ? 1 : 0, x.lastAccessed || 0];
    const [a1, a2] = score(t);
    const [b1, b2] = score(target);
    if (a1 > b1 || (a1 === b1 && a2 > b2)) target = t;
  }
  if (!target) {
    post({ type: "event_result", id: event.id, delivered: false, reason: "no tab of the site" });
    return;
  }
  try {
    await api.tabs.sendMessage(target.id, { type: "event", event }, { frameId: 0 });
    post({ type: "event_result", id: event.id, delivered: true });
  } catch (e) {
    post({ type: "event_result", id: event.id, delivered: false, reason: String(e) });
  }
}

// ---- the native port ----

function updateBadge() {
  const h = state.host;
  let text = "";
  let title = "sessionmgr";
  if (!state.port) {
    text = "!"; title = "sessionmgr: helper not running" + (state.hostError ? ` (${state.hostError})` : "");
  } else if (h && h.daemon !== "up") {
    text = "!"; title = "sessionmgr: the sessionmgr app is not running";
  } else if (h && h.pairing && h.pairing.code) {
    text = "?"; title = `sessionmgr: confirm pairing code ${h.pairing.code} in the app`;
  } else if (h && !h.paired) {
    text = "?"; title = "sessionmgr: not paired";
  }
  try {
    api.action.setBadgeText({ text });
    api.action.setTitle({ title });
  } catch (e) { /* no action UI (tests) */ }
}

function onHostMessage(message) {
  if (!message || typeof message.type !== "string") return;
  state.backoff = BACKOFF_MIN_MS; // the host is alive and talking
  switch (message.type) {
    case "status":
      state.host = message;
      updateBadge();
      break;
    case "site_state":
      if (typeof message.site === "string" && message.state) {
        state.siteStates.set(message.site, message.state);
        const entry = state.latest.get(message.site);
        if (entry && message.seq === entry.seq) entry.confirmed = true;
        const b = message.state.binding;
        if (b && typeof b.cookie_name === "string") state.bindings.set(message.site, b.cookie_name);
        else if (message.state.source !== "binding") state.bindings.delete(message.site);
        save();
      }
      break;
    case "event":
      deliverEvent(message.event).catch((e) => console.warn("sessionmgr:", e));
      break;
    case "silent-result":
      silentAnswered(message);
      break;
    default:
      break;
  }
}

function scheduleReconnect() {
  if (state.reconnectTimer) return;
  const delay = state.backoff;
  state.backoff = Math.min(state.backoff * 2, BACKOFF_MAX_MS);
  state.reconnectTimer = setTimeout(() => {
    state.reconnectTimer = null;
    connect();
  }, delay);
}

async function connect() {
  await ready;
  if (state.port) return;
  let port;
  try {
    port = api.runtime.connectNative(HOST);
  } catch (e) {
    state.hostError = String(e && e.message ? e.message : e);
    updateBadge();
    scheduleReconnect();
    return;
  }
  state.port = port;
  state.hostError = null;
  port.onMessage.addListener(onHostMessage);
  port.onDisconnect.addListener((p) => {
    const err = (p && p.error) || api.runtime.lastError;
    state.hostError = err && err.message ? err.message : "the helper exited";
    if (state.port === port) state.port = null;
    state.host = null;
    state.reportedFocus = undefined;
    for (const resolve of state.silent.values()) resolve(NO_ASSERTION);
    state.silent.clear();
    updateBadge();
    scheduleReconnect();
  });
  const manifest = api.runtime.getManifest();
  post({ type: "hello", version: manifest.version, extension_id: api.runtime.id });
  state.reportedFocus = undefined; // a new host process: tell it again
  await refreshFocus();
  // A new host process knows nothing: give it every site's latest declaration.
  for (const site of state.latest.keys()) {
    inOrder(site, () => sendDeclaration(site, { replay: true }));
  }
  updateBadge();
}

api.runtime.onStartup.addListener(() => { connect(); });
api.runtime.onInstalled.addListener(() => { connect(); });
connect();
