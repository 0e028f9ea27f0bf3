// sessions.js: the site kit's browser half (served at /{prefix}/sessions.js).
// persona-id's browser API on window.siteSessions: identify(), unidentify(),
// set(id), on("login" | "logout", fn), plus get(callback, {silent,
// allowPersistent}) from the persistent-login seed. It keeps
// navigator.id.sessions in step with the site's session, bound to the
// session cookie, so sessionmgr shows the site with no other code, and it
// answers sessionmgr's login/logout DOM events. Load it in <head>, before
// other scripts: it declares before DOMContentLoaded (no indicator flicker).
"use strict";

(() => {
  const CONFIG = /*CONFIG*/null;
  if (!CONFIG || window.siteSessions) return;
  const KNOWN = `sessionmgr-site:known:${CONFIG.base}`; // accounts used in this browser
  const PENDING = `sessionmgr-site:pending-key:${CONFIG.base}`; // a key to register
  const MAX_KNOWN = 10;
  const listeners = { login: [], logout: [], identify: [] };
  let current = CONFIG.identity || null;

  // ---- small tools ----

  function readCookie(name) {
    for (const part of document.cookie.split(";")) {
      const i = part.indexOf("=");
      if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
    }
    return null;
  }

  function storage(kind) {
    try { return window[kind]; } catch (e) { return null; } // blocked storage
  }

  function known() {
    const s = storage("localStorage");
    try {
      const list = JSON.parse((s && s.getItem(KNOWN)) || "[]");
      return Array.isArray(list) ? list.filter((x) => typeof x === "string") : [];
    } catch (e) {
      return [];
    }
  }

  function remember(email) {
    const s = storage("localStorage");
    if (!s) return;
    const list = [email, ...known().filter((x) => x !== email)].slice(0, MAX_KNOWN);
    try { s.setItem(KNOWN, JSON.stringify(list)); } catch (e) { /* full: not remembered */ }
  }

  function emit(type, arg) {
    for (const fn of listeners[type].slice()) {
      try { fn(arg); } catch (e) { console.error("siteSessions listener failed", e); }
    }
  }

  async function post(path, body, withAuth) {
    const headers = { "Content-Type": "application/json" };
    const twin = readCookie(CONFIG.twinCookie);
    if (withAuth && twin) headers["X-Auth"] = twin;
    const response = await fetch(`${CONFIG.base}/${path}`, {
      method: "POST", credentials: "same-origin", headers, body: JSON.stringify(body || {}),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { /* no body */ }
    return { ok: response.ok, status: response.status, data };
  }

  // ---- the Sessions API declaration ----

  // The signed-in account is active and bound to the session cookie (when the
  // cookie goes, so does the indicator); accounts used before in this browser
  // are passive, so sessionmgr can offer them to switch to or to stay signed in.
  function declare() {
    const list = known().filter((e) => e !== current).map((email) => ({ email, status: "passive" }));
    if (current) {
      list.unshift({
        email: current,
        status: "active",
        bound_to: { type: "cookie", cookie_name: CONFIG.sessionCookie },
      });
    }
    try {
      if (!navigator.id || typeof navigator.id !== "object") navigator.id = {};
      navigator.id.sessions = list;
    } catch (e) { /* a locked navigator.id: nothing to declare to */ }
  }

  // ---- persistent login: register the key once signed in as that account ----

  async function registerPendingKey() {
    const s = storage("sessionStorage");
    let pending = null;
    try { pending = JSON.parse((s && s.getItem(PENDING)) || "null"); } catch (e) { /* none */ }
    if (!pending || pending.account !== current || typeof pending.publicKey !== "string") return;
    const result = await post("keys", { publicKey: pending.publicKey }, true);
    if (result.ok || result.status === 400) s.removeItem(PENDING);
  }

  function rememberKey(account, publicKey) {
    const s = storage("sessionStorage");
    if (!s || typeof account !== "string" || typeof publicKey !== "string") return;
    try { s.setItem(PENDING, JSON.stringify({ account, publicKey })); } catch (e) { /* full */ }
  }

  // ---- silent login (seed 001) through the sessionmgr extension ----

  function extensionGet() {
    const id = navigator.id;
    return id && typeof id.get === "function" ? id.get.bind(id) : null;
  }

  function get(callback, options) {
    const opts = options || {};
    if (!opts.silent) {
      // No dialog here: signing in is the site's own page; the callback gets null.
      api.identify({ allowPersistent: !!opts.allowPersistent });
      setTimeout(() => callback(null), 0);
      return;
    }
    const ask = extensionGet();
    if (!ask) { setTimeout(() => callback(null), 0); return; }
    post("nonce", {}, false).then((answer) => {
      if (!answer.ok || !answer.data || typeof answer.data.nonce !== "string") {
        callback(null);
        return;
      }
      ask((assertion) => callback(typeof assertion === "string" ? assertion : null),
        { silent: true, nonce: answer.data.nonce });
    }).catch(() => callback(null));
  }

  // ---- the API ----

  const api = {
    get identity() { return current; },

    on(type, fn) {
      if (!listeners[type] || typeof fn !== "function") throw new TypeError(`unknown event ${type}`);
      listeners[type].push(fn);
      return api;
    },

    off(type, fn) {
      if (listeners[type]) listeners[type] = listeners[type].filter((x) => x !== fn);
      return api;
    },

    // persona-id: the server knows who is signed in (or that nobody is).
    set(id) {
      current = typeof id === "string" && id ? id : null;
      if (current) remember(current);
      declare();
      if (current) {
        registerPendingKey().catch((e) => console.warn("siteSessions: key not registered", e));
        emit("login", current);
      } else {
        emit("logout");
      }
    },

    // Sign in: the app's "identify" listeners, else the kit's login_url.
    identify(options) {
      const opts = options || {};
      if (listeners.identify.length) { emit("identify", opts); return; }
      if (!CONFIG.loginUrl) { console.warn("siteSessions: no login_url configured"); return; }
      const url = new URL(CONFIG.loginUrl, location.href);
      url.searchParams.set("next", location.pathname + location.search);
      if (typeof opts.account === "string") url.searchParams.set("account", opts.account);
      location.assign(url.href);
    },

    // Sign out: the server ends the session and clears its cookies.
    async unidentify() {
      const result = await post("logout", {}, true);
      if (result.ok) api.set(null);
      return result;
    },

    async loginWithPassword(email, password) {
      const result = await post("login", { email, password }, false);
      if (result.ok && result.data) api.set(result.data.email);
      return result;
    },

    async loginWithAssertion(assertion) {
      const result = await post("login", { assertion }, false);
      if (result.ok && result.data) api.set(result.data.email);
      return result;
    },

    get,

    // A silent login: null if sessionmgr has no "stay signed in" for this site.
    silentLogin() {
      return new Promise((resolve) => {
        get((assertion) => {
          if (!assertion) { resolve(null); return; }
          api.loginWithAssertion(assertion).then(resolve, () => resolve(null));
        }, { silent: true });
      });
    },

    // Headers for the app's own state-changing requests (authen's CSRF twin).
    authHeaders() {
      const headers = {};
      const twin = readCookie(CONFIG.twinCookie);
      if (twin) headers["X-Auth"] = twin;
      if (current) headers["X-Auth-Expected"] = current;
      return headers;
    },

    fetch(input, init) {
      const options = { credentials: "same-origin", ...(init || {}) };
      options.headers = { ...(options.headers || {}), ...api.authHeaders() };
      return fetch(input, options);
    },
  };
  Object.defineProperty(window, "siteSessions", { value: api, enumerable: true });

  // ---- sessionmgr's DOM events (seed 002) ----

  // A switch ends the old session on the server without declaring the
  // in-between state: sessionmgr takes the site's next declaration as its
  // answer (R10), and that answer should be the new account, active.
  async function endSessionQuietly() {
    const result = await post("logout", {}, true);
    if (result.ok) current = null;
    return result;
  }

  document.addEventListener("login", (event) => {
    const id = typeof event.id === "string" ? event.id : null;
    if (event.persistent === true && id) rememberKey(id, event.publicKey);
    if (id && id === current) {
      registerPendingKey().catch(() => {});
      declare(); // the site answers: nothing to change
      return;
    }
    // Log in or switch: the site ends the old session itself, then signs the
    // new one in (best on the same page: an "identify" listener).
    const ending = current ? endSessionQuietly() : Promise.resolve(null);
    ending.then(() => api.identify(id ? { account: id } : {}));
  });

  document.addEventListener("logout", () => {
    if (current) api.unidentify();
    else declare();
  });

  // ---- start: declare now, then try a silent login if nobody is signed in ----

  declare();
  if (current) registerPendingKey().catch(() => {});
  if (!current && CONFIG.autoSilent && extensionGet()) {
    api.silentLogin(); // on success set() declares and fires "login"
  }
})();
