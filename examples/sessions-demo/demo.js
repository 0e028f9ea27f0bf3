// A tiny Sessions API site: everything a real site would do, kept in
// localStorage and one cookie. window.demo is also what the e2e test drives.
"use strict";

(() => {
  const KEY = "sessions-demo";
  const COOKIE = "demo_sid";
  const ACCOUNTS = ["alice@example.com", "bob@example.com"];
  const manual = new URLSearchParams(location.search).has("manual");

  function load() {
    try {
      const s = JSON.parse(localStorage.getItem(KEY));
      if (s && Array.isArray(s.accounts)) return s;
    } catch (e) { /* start over */ }
    return { accounts: [], active: null, bind: true };
  }
  function save(s) { localStorage.setItem(KEY, JSON.stringify(s)); }

  const demo = {
    events: [],
    declarations: [],

    // Exactly what a page does: assign navigator.id.sessions.
    declare(sessions) {
      if (!navigator.id) {
        console.warn("no navigator.id: is the sessionmgr extension installed?");
        navigator.id = {};
      }
      navigator.id.sessions = sessions;
      demo.declarations.push(sessions === undefined ? "undefined" : JSON.stringify(sessions));
      demo.render();
    },

    // The page's idea of who is signed in, declared as the seed describes.
    redeclare() {
      const s = load();
      if (s.accounts.length === 0) return demo.declare([]);
      demo.declare(s.accounts.map((email) => {
        const session = { email, status: email === s.active ? "active" : "passive" };
        if (email === s.active && s.bind) {
          session.bound_to = { type: "cookie", cookie_name: COOKIE };
        }
        return session;
      }));
    },

    setCookie() {
      document.cookie = `${COOKIE}=${Math.random().toString(36).slice(2)}; path=/; SameSite=Lax`;
    },
    clearCookie() {
      document.cookie = `${COOKIE}=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT`;
    },

    signIn(email) {
      const s = load();
      for (const a of ACCOUNTS) if (!s.accounts.includes(a)) s.accounts.push(a);
      if (!s.accounts.includes(email)) s.accounts.push(email);
      s.active = email;
      save(s);
      demo.setCookie();
      demo.redeclare();
    },
    signOut() {
      const s = load();
      s.active = null;
      save(s);
      demo.clearCookie();
      demo.redeclare();
    },
    setBind(bind) {
      const s = load();
      s.bind = bind;
      save(s);
    },
    reset() {
      localStorage.removeItem(KEY);
      demo.clearCookie();
      demo.events.length = 0;
      demo.declarations.length = 0;
    },

    render() {
      const who = document.getElementById("who");
      if (!who) return; // still in <head>
      const s = load();
      who.textContent = s.active || "nobody";
      const last = demo.declarations[demo.declarations.length - 1];
      document.getElementById("declared").textContent = last || "(none)";
      const log = document.getElementById("log");
      log.textContent = "";
      for (const e of demo.events) {
        const li = document.createElement("li");
        li.textContent = `${e.type} id=${e.id} previous=${e.previous}`;
        log.appendChild(li);
      }
    },

    wireUp() {
      const on = (id, fn) => document.getElementById(id).addEventListener("click", fn);
      on("alice", () => demo.signIn("alice@example.com"));
      on("bob", () => demo.signIn("bob@example.com"));
      on("signout", () => demo.signOut());
      on("empty", () => demo.declare([]));
      on("undef", () => demo.declare(undefined));
      on("setcookie", () => demo.setCookie());
      on("clearcookie", () => demo.clearCookie());
      const bind = document.getElementById("bind");
      bind.checked = load().bind;
      bind.addEventListener("change", () => demo.setBind(bind.checked));
      demo.render();
    },
  };
  window.demo = demo;

  // The two DOM events of the Sessions API, as an unmodified site handles them.
  document.addEventListener("login", (event) => {
    demo.events.push({ type: "login", id: event.id ?? null, previous: event.previous ?? null,
      persistent: event.persistent === true, publicKey: event.publicKey ?? null });
    demo.render();
    if (manual) return;
    // event.id names the chosen account; without one a real site would show
    // its login form: here the first known account just signs in.
    demo.signIn(event.id || load().accounts[0] || ACCOUNTS[0]);
  });
  document.addEventListener("logout", () => {
    demo.events.push({ type: "logout", id: null, previous: null });
    demo.render();
    if (!manual) demo.signOut();
  });

  // Declare on every page load, before DOMContentLoaded.
  const s = load();
  if (s.accounts.length) demo.redeclare();
})();
