// The declaration schema (DESIGN.md R2), shared by the content script and the
// service worker. Whatever a page assigns is rebuilt from these fields only:
// nothing else it sends travels further.
"use strict";

(() => {
  const MAX_SESSIONS = 100;
  const MAX_EMAIL = 254;
  const MAX_COOKIE_NAME = 4096;
  // Unicode category Cc: C0 controls, DEL and C1 controls.
  const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

  function plainString(value, max) {
    return typeof value === "string" && value.length > 0 && value.length <= max &&
      !CONTROL.test(value);
  }

  // Returns {ok: true, sessions: null | [...]} or {ok: false, error: "..."}.
  function validateSessions(value) {
    if (value === null || value === undefined) return { ok: true, sessions: null };
    if (!Array.isArray(value)) return { ok: false, error: "sessions must be an array or undefined" };
    if (value.length > MAX_SESSIONS) {
      return { ok: false, error: `at most ${MAX_SESSIONS} sessions` };
    }
    const sessions = [];
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      const where = `sessions[${i}]`;
      if (item === null || typeof item !== "object" || Array.isArray(item)) {
        return { ok: false, error: `${where} must be an object` };
      }
      if (!plainString(item.email, MAX_EMAIL)) {
        return { ok: false, error: `${where}.email must be a non-empty string of at most ` +
          `${MAX_EMAIL} characters without control characters` };
      }
      const session = { email: item.email };
      if (item.status !== undefined && item.status !== null) {
        if (item.status !== "active" && item.status !== "passive") {
          return { ok: false, error: `${where}.status must be "active" or "passive"` };
        }
        session.status = item.status;
      }
      const b = item.bound_to;
      if (b !== undefined && b !== null) {
        if (typeof b !== "object" || Array.isArray(b) || b.type !== "cookie") {
          return { ok: false, error: `${where}.bound_to.type must be "cookie"` };
        }
        // The original add-on read bound_to.name; accept it as an alias.
        const name = b.cookie_name !== undefined ? b.cookie_name : b.name;
        if (!plainString(name, MAX_COOKIE_NAME) || /[\s;=,]/.test(name)) {
          return { ok: false, error: `${where}.bound_to.cookie_name must be a cookie name` };
        }
        session.bound_to = { type: "cookie", cookie_name: name };
      }
      sessions.push(session);
    }
    return { ok: true, sessions };
  }

  // The binding a declaration sets (DESIGN.md: the active session's, else the
  // first one's that has one); undefined means "unchanged" (a null declaration).
  function bindingOf(sessions) {
    if (sessions === null) return undefined;
    let active = null;
    for (const s of sessions) {
      if ((s.status || "active") === "active") { active = s; break; }
    }
    if (active && active.bound_to) return active.bound_to.cookie_name;
    for (const s of sessions) if (s.bound_to) return s.bound_to.cookie_name;
    return null;
  }

  globalThis.SessionmgrSchema = Object.freeze({ validateSessions, bindingOf });
})();
