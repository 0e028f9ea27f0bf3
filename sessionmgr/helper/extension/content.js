// The isolated-world half of the content script: the page world's messages
// are untrusted input, checked against the declaration schema here before
// anything reaches the service worker.
"use strict";

(() => {
  const TO_EXTENSION = "sessionmgr:page-to-extension";
  const TO_PAGE = "sessionmgr:extension-to-page";
  const api = globalThis.browser ?? globalThis.chrome;
  const { validateSessions } = globalThis.SessionmgrSchema;

  function validNonce(nonce) {
    return typeof nonce === "string" && nonce.length > 0 && nonce.length <= 256 &&
      !/[\u0000-\u001f\u007f-\u009f]/.test(nonce);
  }

  function send(message) {
    try {
      api.runtime.sendMessage(message).catch(() => {});
    } catch (e) {
      // The extension was reloaded under this page: nothing to send to.
    }
  }

  document.addEventListener(TO_EXTENSION, (e) => {
    if (typeof e.detail !== "string" || e.detail.length > 1_000_000) return;
    let message;
    try { message = JSON.parse(e.detail); } catch (err) { return; }
    if (!message || typeof message !== "object") return;
    switch (message.type) {
      case "declaration": {
        const result = typeof message.invalid === "string"
          ? { ok: false, error: message.invalid }
          : validateSessions(message.sessions);
        if (!result.ok) {
          console.warn(`sessionmgr: navigator.id.sessions ignored: ${result.error}`);
          return;
        }
        send({ type: "declaration", sessions: result.sessions });
        break;
      }
      case "login-status":
        if (message.status === "logged-in" || message.status === "logged-out") {
          send({ type: "login-status", status: message.status });
        }
        break;
      case "no-declaration":
        send({ type: "no-declaration" });
        break;
      case "silent-login": {
        // Only a nonce and a request number cross over; the site is the
        // service worker's to know (from the tab), never the page's to say.
        const rid = message.rid;
        if (typeof rid !== "string" || rid.length > 32) return;
        const nonce = message.nonce;
        const reply = (answer) => {
          const detail = JSON.stringify({
            type: "silent-result", rid,
            id: answer && typeof answer.id === "string" ? answer.id : null,
            assertion: answer && typeof answer.assertion === "string" ? answer.assertion : null,
          });
          document.dispatchEvent(new CustomEvent(TO_PAGE, { detail }));
        };
        if (nonce !== null && !validNonce(nonce)) { reply(null); return; }
        try {
          api.runtime.sendMessage({ type: "silent-login", nonce }).then(reply, () => reply(null));
        } catch (e) {
          reply(null);
        }
        break;
      }
      default:
        break;
    }
  });

  api.runtime.onMessage.addListener((message) => {
    if (!message || message.type !== "event" || !message.event) return;
    const ev = message.event;
    if (ev.type !== "login" && ev.type !== "logout") return;
    const detail = JSON.stringify({
      type: ev.type,
      id: typeof ev.account === "string" ? ev.account : null,
      previous: typeof ev.previous === "string" ? ev.previous : null,
      persistent: ev.persistent === true,
      publicKey: typeof ev.public_key === "string" ? ev.public_key : null,
    });
    document.dispatchEvent(new CustomEvent(TO_PAGE, { detail }));
  });
})();
