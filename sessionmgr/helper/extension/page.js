// Runs in the page's own world at document_start, before any page script.
// It gives the page navigator.id.sessions (an accessor, so every assignment is
// seen), wraps navigator.login.setStatus, and turns the extension's login and
// logout messages into DOM events on document as the Sessions API describes.
// It holds no secrets: the page can see and fake everything here, which only
// lets it lie about itself.
"use strict";

(() => {
  const TO_EXTENSION = "sessionmgr:page-to-extension";
  const TO_PAGE = "sessionmgr:extension-to-page";
  const MARK = Symbol.for("sessionmgr.installed");
  if (window[MARK]) return;
  Object.defineProperty(window, MARK, { value: true });

  // Keep our own references: page scripts run later and may replace these.
  const dispatch = EventTarget.prototype.dispatchEvent;
  const listen = EventTarget.prototype.addEventListener;
  const CustomEventCtor = CustomEvent;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const isArray = Array.isArray;
  const defineProperty = Object.defineProperty;
  const doc = document;

  function post(message) {
    dispatch.call(doc, new CustomEventCtor(TO_EXTENSION, { detail: stringify(message) }));
  }

  // A plain copy with only the declared fields, read once. Getters that throw
  // or odd objects become values the isolated world rejects.
  function primitive(v) {
    return v === null || ["string", "number", "boolean"].includes(typeof v) ? v : "[object]";
  }
  function snapshot(value) {
    if (value === undefined || value === null) return { sessions: null };
    if (!isArray(value)) return { invalid: "sessions must be an array or undefined" };
    const out = [];
    const n = Math.min(value.length >>> 0, 101);
    for (let i = 0; i < n; i++) {
      const item = value[i];
      if (item === null || typeof item !== "object") { out.push(primitive(item)); continue; }
      const copy = { email: primitive(item.email) };
      if (item.status !== undefined) copy.status = primitive(item.status);
      const b = item.bound_to;
      if (b !== undefined && b !== null) {
        copy.bound_to = typeof b === "object"
          ? { type: primitive(b.type), cookie_name: primitive(b.cookie_name), name: primitive(b.name) }
          : primitive(b);
        if (copy.bound_to.cookie_name === undefined) delete copy.bound_to.cookie_name;
      }
      out.push(copy);
    }
    if ((value.length >>> 0) > n) out.push("[too many]");
    return { sessions: out };
  }

  let declared = false;
  function report(value) {
    declared = true;
    let message;
    try {
      message = snapshot(value);
    } catch (e) {
      message = { invalid: "sessions could not be read" };
    }
    message.type = "declaration";
    post(message);
  }

  // navigator.id.get(callback, {silent: true, nonce}) (seed 001): a silent
  // request for this site's "stay signed in" assertion, signed over the nonce
  // the site issued; the callback gets the assertion or null. There is no
  // dialog: without `silent` the answer is null (sign in from sessionmgr).
  const pendingGets = new Map();
  let getCounter = 0;
  function get(callback, options) {
    if (typeof callback !== "function") throw new TypeError("navigator.id.get needs a callback");
    const opts = options || {};
    const answer = (assertion) => { try { callback(assertion); } catch (e) { /* page's */ } };
    if (!opts.silent) { setTimeout(() => answer(null), 0); return; }
    const nonce = typeof opts.nonce === "string" ? opts.nonce : null;
    const rid = `${++getCounter}`;
    pendingGets.set(rid, answer);
    setTimeout(() => {
      const pending = pendingGets.get(rid);
      if (pending) { pendingGets.delete(rid); pending(null); }
    }, 10_000);
    post({ type: "silent-login", nonce, rid });
  }

  function installGet(target) {
    if (typeof target.get === "function") return; // a page's own BrowserID shim wins
    try {
      defineProperty(target, "get", { configurable: true, writable: true, value: get });
    } catch (e) { /* not extensible */ }
  }

  function installSessions(target) {
    installGet(target);
    let current;
    try {
      current = target.sessions;
      defineProperty(target, "sessions", {
        configurable: true,
        enumerable: true,
        get() { return current; },
        set(value) { current = value; report(value); },
      });
    } catch (e) {
      return false; // frozen or non-configurable: leave the page's object alone
    }
    if (current !== undefined) report(current);
    return true;
  }

  // navigator.id: ours unless the browser (or an earlier script) has one. If
  // the page replaces the whole object (old BrowserID shims did), the new
  // object gets the accessor too.
  const nav = navigator;
  if (nav.id && typeof nav.id === "object") {
    installSessions(nav.id);
  } else {
    let idObject = {};
    installSessions(idObject);
    try {
      defineProperty(nav, "id", {
        configurable: true,
        enumerable: true,
        get() { return idObject; },
        set(value) {
          if (value && typeof value === "object") {
            idObject = value;
            installSessions(value);
          }
        },
      });
    } catch (e) { /* a browser-provided, locked navigator.id: nothing to do */ }
  }

  // The Login Status API's one bit, for sites that never use navigator.id.
  const login = nav.login;
  if (login && typeof login.setStatus === "function") {
    const original = login.setStatus;
    try {
      defineProperty(login, "setStatus", {
        configurable: true,
        writable: true,
        value: function setStatus(status) {
          const result = original.apply(this, arguments);
          if (!declared && (status === "logged-in" || status === "logged-out")) {
            post({ type: "login-status", status });
          }
          return result;
        },
      });
    } catch (e) { /* not wrappable: the site's status just isn't reported */ }
  }

  // Events from sessionmgr, dispatched as the seed describes: `login` with the
  // chosen account in event.id (null for a plain "log in"), plus `persistent`
  // and `publicKey` for "stay signed in"; `logout`. Also the silent answers.
  listen.call(doc, TO_PAGE, (e) => {
    let message;
    try { message = parse(e.detail); } catch (err) { return; }
    if (message && message.type === "silent-result" && typeof message.rid === "string") {
      const answer = pendingGets.get(message.rid);
      if (!answer) return;
      pendingGets.delete(message.rid);
      answer(typeof message.assertion === "string" ? message.assertion : null);
      return;
    }
    if (!message || (message.type !== "login" && message.type !== "logout")) return;
    const persistent = message.persistent === true;
    const publicKey = typeof message.publicKey === "string" ? message.publicKey : null;
    const event = new CustomEventCtor(message.type, {
      detail: { id: message.id ?? null, previous: message.previous ?? null, persistent, publicKey },
    });
    if (message.type === "login") {
      defineProperty(event, "id", { value: message.id ?? null, enumerable: true });
      if (message.previous != null) {
        defineProperty(event, "previous", { value: message.previous, enumerable: true });
      }
      // "Stay signed in": the key the site registers for this account once the
      // person is signed in as it; silent logins are then signed with it.
      defineProperty(event, "persistent", { value: persistent, enumerable: true });
      defineProperty(event, "publicKey", { value: publicKey, enumerable: true });
    }
    dispatch.call(doc, event);
  });

  // Tell the extension the page finished loading without declaring, so a
  // site known to sessionmgr is re-evaluated by its binding (R5).
  listen.call(window, "load", () => {
    if (!declared) post({ type: "no-declaration" });
  });
})();
