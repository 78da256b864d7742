/**
 * The page's script, served as /app.js (same origin, so the CSP needs no 'unsafe-inline'). Plain DOM,
 * no framework; every value from the server goes in through textContent, never as HTML.
 * (Kept free of backticks, dollar-brace and backslashes: it lives inside a template literal.)
 */

export const APP_JS = `"use strict";
(() => {
  const MAX_REQUESTS = 500;
  const LABELS = { disconnected: "Disconnected", connecting: "Connecting", connected: "Connected", error: "Error" };
  const $ = (sel) => document.querySelector(sel);
  let csrf = "";
  let state = { agents: [], relay: null, only: null };
  let pending = null;
  const busy = new Set();

  function el(tag, props, children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined) continue;
      if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children || []) if (c) e.append(c);
    return e;
  }

  function age(since) {
    const s = Math.max(0, Math.floor((Date.now() - since) / 1000));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
    return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  }
  function clock(t) {
    const d = new Date(t);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
  }
  function bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
    return (n / 1048576).toFixed(1) + " MiB";
  }

  function notice(text) {
    const n = $("#notice");
    n.textContent = text || "";
    n.hidden = !text;
  }
  function live(text, cls) {
    const l = $("#live");
    l.textContent = text;
    l.className = "live " + (cls || "");
  }

  async function call(method, path, body) {
    const init = { method, credentials: "same-origin", headers: { "x-csrf-token": csrf } };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.message || data.error || "HTTP " + res.status);
    return data;
  }
  const agentPath = (name, action) => "/api/agents/" + encodeURIComponent(name) + "/" + action;

  function agentRow(a) {
    const status = el("td", null, [
      el("span", { class: "badge " + a.state, text: LABELS[a.state] || a.state }),
      a.since && a.state !== "error" ? el("span", { class: "since", "data-since": String(a.since), text: age(a.since) }) : null,
      a.reason ? el("span", { class: "reason", text: a.reason }) : null,
    ]);
    const url = a.url
      ? el("div", { class: a.urlExact ? "url" : "url inexact" }, [
          el("code", { text: a.url }),
          a.urlExact ? null : el("span", { class: "tag", title: "Inferred from the relay setting; exact once an agent connects", text: "expected" }),
          el("button", {
            type: "button", class: "copy", "data-key": "copy:" + a.name, "aria-label": "Copy the public URL of " + a.name,
            text: "Copy", onclick: (ev) => copy(a.url, ev.currentTarget),
          }),
        ])
      : el("span", { class: "muted", text: "known once a relay is set" });
    const sw = el("button", {
      type: "button", role: "switch", class: "switch", "data-key": "switch:" + a.name,
      "aria-checked": String(a.enabled), "aria-label": "Public access for " + a.name,
      title: a.enabled ? "Public: click to turn off" : "Private: click to make public",
      onclick: () => toggle(a),
    });
    sw.disabled = busy.has(a.name);
    return el("tr", { "data-agent": a.name }, [
      el("td", null, [el("span", { class: "name", text: a.name }), el("code", { class: "addr", title: a.address, text: a.shortAddress })]),
      el("td", null, [a.target ? el("code", { text: a.target }) : el("span", { class: "muted", text: "no target" })]),
      status,
      el("td", null, [url]),
      el("td", { class: "right" }, [sw]),
    ]);
  }

  function renderAgents() {
    const focused = document.activeElement && document.activeElement.getAttribute("data-key");
    $("#agents tbody").replaceChildren(...state.agents.map(agentRow));
    $("#agents").hidden = state.agents.length === 0;
    $("#no-agents").hidden = state.agents.length > 0;
    $("#relay").textContent = state.relay ? "relay " + state.relay : "no relay set: run agent-relay up --relay <url>";
    const only = $("#only");
    only.hidden = !state.only;
    only.textContent = state.only ? "Started with --agent " + state.only + ": only that agent runs, whatever the switches say." : "";
    if (focused) {
      const again = document.querySelector('[data-key="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
  }

  function requestRow(r) {
    return el("tr", null, [
      el("td", { class: "mono", text: clock(r.time) }),
      el("td", { text: r.agent }),
      el("td", { class: "mono", text: r.method }),
      el("td", { class: "mono", text: r.path }),
      el("td", { class: "right mono s" + String(r.status).charAt(0), text: r.status ? String(r.status) : "-" }),
      el("td", { class: "right mono", text: r.ms + " ms" }),
      el("td", { class: "right mono", text: bytes(r.bytesIn) + " / " + bytes(r.bytesOut) }),
    ]);
  }
  function showRequests(list) {
    $("#requests tbody").replaceChildren(...list.slice(-MAX_REQUESTS).reverse().map(requestRow));
    $("#no-requests").hidden = list.length > 0;
  }
  function addRequest(r) {
    const body = $("#requests tbody");
    body.prepend(requestRow(r));
    while (body.children.length > MAX_REQUESTS) body.lastElementChild.remove();
    $("#no-requests").hidden = true;
  }

  async function copy(text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const range = document.createRange();
      range.selectNodeContents(button.parentElement.querySelector("code"));
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  }

  async function setEnabled(name, on) {
    busy.add(name);
    renderAgents();
    try {
      await call("POST", agentPath(name, on ? "enable" : "disable"), on ? { confirm: true } : {});
      notice("");
    } catch (err) {
      notice("Could not turn " + (on ? "on " : "off ") + name + ": " + err.message);
    } finally {
      busy.delete(name);
      renderAgents();
    }
  }

  function toggle(a) {
    if (a.enabled) return setEnabled(a.name, false);
    openConfirm(a);
  }

  const dialog = $("#confirm");
  const field = (name) => dialog.querySelectorAll('[data-field="' + name + '"]');
  function openConfirm(a) {
    pending = a.name;
    field("name").forEach((n) => { n.textContent = a.name; });
    field("url")[0].textContent = a.url || "(shown once a relay is set)";
    field("url-note")[0].hidden = !a.url || a.urlExact;
    field("target")[0].textContent = a.target || "(no target set)";
    const check = field("check")[0];
    check.className = "check muted small";
    check.textContent = "Checking whether the local server asks for credentials…";
    dialog.showModal();
    $("#confirm-cancel").focus();
    call("GET", agentPath(a.name, "check")).then(({ verdict }) => {
      if (pending !== a.name) return;
      if (!verdict) check.textContent = "";
      else if (verdict.kind === "unprotected") {
        check.className = "check warn small";
        check.textContent = "Warning: " + new URL(verdict.path, a.target).href + " answered " + verdict.status + " without any credentials. The server looks unprotected.";
      } else if (verdict.kind === "protected") check.textContent = "The local server refused a request without credentials.";
      else check.textContent = "Could not reach the local server to check it (" + verdict.reason + ").";
    }, () => { check.textContent = ""; });
  }
  $("#confirm-cancel").addEventListener("click", () => dialog.close("cancel"));
  $("#confirm-enable").addEventListener("click", () => {
    const name = pending;
    dialog.close("enable");
    if (name) setEnabled(name, true);
  });
  dialog.addEventListener("close", () => { pending = null; });

  $("#create").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const data = new FormData(form);
    const error = $("#create-error");
    error.textContent = "";
    try {
      await call("POST", "/api/agents", { name: String(data.get("name")), target: String(data.get("target")) });
      form.reset();
    } catch (err) {
      error.textContent = err.message;
    }
  });

  function connect() {
    const es = new EventSource("/api/events");
    es.addEventListener("open", () => live("live", ""));
    es.addEventListener("state", (e) => { state = JSON.parse(e.data); renderAgents(); });
    es.addEventListener("backlog", (e) => showRequests(JSON.parse(e.data)));
    es.addEventListener("request", (e) => addRequest(JSON.parse(e.data)));
    es.addEventListener("notice", (e) => notice(JSON.parse(e.data).message));
    es.addEventListener("error", () => {
      if (es.readyState === EventSource.CLOSED) live("disconnected: is agent-relay up running? Sign in again with agent-relay ui", "dead");
      else live("reconnecting…", "off");
    });
  }

  setInterval(() => {
    document.querySelectorAll("[data-since]").forEach((n) => { n.textContent = age(Number(n.getAttribute("data-since"))); });
  }, 1000);

  call("GET", "/api/state").then((s) => {
    csrf = s.csrf;
    state = s;
    renderAgents();
    showRequests(s.requests);
    connect();
  }, (err) => {
    live("signed out", "dead");
    notice("Not signed in (" + err.message + "). Run agent-relay ui to open this page signed in.");
  });
})();
`;
