import { statSync } from "node:fs";
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { PeerDaemon } from "../../src/peer/daemon.ts";
import { Store } from "../../src/peer/store.ts";
import { CODE_TTL_MS, LoginCodes } from "../../src/peer/ui/login-codes.ts";
import {
  authenticate,
  cookieName,
  csrfAllowed,
  fetchMetadataAllowed,
  hostAllowed,
  readCookie,
  SECURITY_HEADERS,
  sameSecret,
} from "../../src/peer/ui/security.ts";
import { startUiServer, type UiServer } from "../../src/peer/ui/server.ts";
import { requestSignInUrl } from "../../src/peer/ui/sign-in.ts";
import { readUiFile, uiFilePath } from "../../src/peer/ui/ui-file.ts";
import { tempHome } from "../helpers/cli.ts";
import { silent } from "../helpers/harness.ts";

describe("the page's checks, as functions", () => {
  it("compares secrets in constant time and never accepts a missing or empty one", () => {
    expect(sameSecret("abc", "abc")).toBe(true);
    expect(sameSecret("abd", "abc")).toBe(false);
    expect(sameSecret("abc ", "abc")).toBe(false);
    expect(sameSecret(undefined, "abc")).toBe(false);
    expect(sameSecret("", "")).toBe(false);
  });

  it("answers only to 127.0.0.1:<port> and localhost:<port>", () => {
    expect(hostAllowed("127.0.0.1:7070", 7070)).toBe(true);
    expect(hostAllowed("localhost:7070", 7070)).toBe(true);
    expect(hostAllowed("LocalHost:7070", 7070)).toBe(true);
    for (const bad of [
      undefined,
      "",
      "127.0.0.1",
      "localhost",
      "127.0.0.1:7071",
      "evil.example:7070",
      "7070.localhost:7070",
      "localhost.evil.example:7070",
      "[::1]:7070",
      "127.0.0.1:7070.evil.example",
    ]) {
      expect(hostAllowed(bad, 7070), String(bad)).toBe(false);
    }
  });

  it("finds the session cookie by its per-port name only", () => {
    expect(readCookie("a=1; agent_relay_ui_7070=tok; b=2", "agent_relay_ui_7070")).toBe("tok");
    expect(readCookie("agent_relay_ui_7071=tok", "agent_relay_ui_7070")).toBeUndefined();
    expect(readCookie(undefined, "x")).toBeUndefined();
    expect(cookieName(7070)).not.toBe(cookieName(7071));
  });

  it("signs in by cookie or bearer token, and by nothing else", () => {
    const t = "secret-token";
    expect(authenticate({ cookie: `${cookieName(1)}=${t}` }, 1, t)).toBe("cookie");
    expect(authenticate({ authorization: `Bearer ${t}` }, 1, t)).toBe("bearer");
    expect(authenticate({ cookie: `${cookieName(2)}=${t}` }, 1, t)).toBeUndefined();
    expect(
      authenticate({ authorization: "Bearer wrong", cookie: `${cookieName(1)}=${t}` }, 1, t),
    ).toBeUndefined();
    expect(authenticate({ authorization: `Basic ${t}` }, 1, t)).toBeUndefined();
    expect(authenticate({}, 1, t)).toBeUndefined();
  });

  it("lets only the page's own origin change state, with the CSRF token", () => {
    const ok = { host: "127.0.0.1:7070", origin: "http://127.0.0.1:7070", "x-csrf-token": "c" };
    expect(csrfAllowed(ok, "c")).toBe("ok");
    expect(csrfAllowed({ ...ok, host: "localhost:7070", origin: "http://localhost:7070" }, "c")).toBe("ok");
    // Another port on 127.0.0.1 is the same site, but not the same origin.
    expect(csrfAllowed({ ...ok, origin: "http://127.0.0.1:3000" }, "c")).toBe("bad_origin");
    expect(csrfAllowed({ ...ok, origin: "http://localhost:7070" }, "c")).toBe("bad_origin");
    expect(csrfAllowed({ ...ok, origin: "null" }, "c")).toBe("bad_origin");
    const { origin: _, ...noOrigin } = ok;
    expect(csrfAllowed(noOrigin, "c")).toBe("bad_origin");
    expect(csrfAllowed({ ...noOrigin, "sec-fetch-site": "same-origin" }, "c")).toBe("ok");
    expect(csrfAllowed({ ...ok, "x-csrf-token": "d" }, "c")).toBe("bad_csrf_token");
    const { "x-csrf-token": __, ...noToken } = ok;
    expect(csrfAllowed(noToken, "c")).toBe("bad_csrf_token");
  });

  it("refuses what another origin makes the browser send, but allows plain navigations", () => {
    expect(fetchMetadataAllowed("POST", {})).toBe(true); // curl, the CLI: the token decides
    expect(fetchMetadataAllowed("POST", { "sec-fetch-site": "same-origin" })).toBe(true);
    expect(fetchMetadataAllowed("GET", { "sec-fetch-site": "none" })).toBe(true);
    expect(fetchMetadataAllowed("POST", { "sec-fetch-site": "same-site" })).toBe(false);
    expect(fetchMetadataAllowed("GET", { "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors" })).toBe(
      false,
    );
    expect(
      fetchMetadataAllowed("GET", {
        "sec-fetch-site": "cross-site",
        "sec-fetch-mode": "no-cors",
        "sec-fetch-dest": "script",
      }),
    ).toBe(false);
    const nav = {
      "sec-fetch-site": "cross-site",
      "sec-fetch-mode": "navigate",
      "sec-fetch-dest": "document",
    };
    expect(fetchMetadataAllowed("GET", nav)).toBe(true);
    expect(fetchMetadataAllowed("POST", nav)).toBe(false);
    expect(fetchMetadataAllowed("GET", { ...nav, "sec-fetch-dest": "iframe" })).toBe(false);
  });

  it("redeems each sign-in code once, and only before it expires", () => {
    let now = 1_000;
    const codes = new LoginCodes(() => now);
    const a = codes.issue();
    const b = codes.issue();
    expect(codes.redeem("made-up")).toBe(false);
    expect(codes.redeem(undefined)).toBe(false);
    expect(codes.redeem(a)).toBe(true);
    expect(codes.redeem(a)).toBe(false);
    now += CODE_TTL_MS;
    expect(codes.redeem(b)).toBe(false);
  });
});

// ---- The same checks on a real server over real sockets ----

let ui: UiServer | undefined;
let daemon: PeerDaemon | undefined;
afterEach(async () => {
  await ui?.close();
  await daemon?.stop();
  ui = undefined;
  daemon = undefined;
});

async function start(): Promise<{ home: string; ui: UiServer }> {
  const home = tempHome();
  const store = new Store(home);
  store.createAgent("a1", "http://127.0.0.1:9");
  daemon = new PeerDaemon({ store, log: silent, watch: false });
  daemon.start();
  ui = await startUiServer({ daemon, store, port: 0, log: silent });
  return { home, ui };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(port: number, path: string, headers: Record<string, string>, method = "GET", body?: string) {
  return new Promise<Reply>((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method,
        headers: { host: `127.0.0.1:${port}`, ...headers },
        agent: false,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Signs in the way a browser does; returns the cookie and the page's CSRF token. */
async function signIn(home: string, port: number): Promise<{ cookie: string; csrf: string }> {
  const link = new URL(await requestSignInUrl(home));
  const login = await send(port, `${link.pathname}${link.search}`, {});
  expect(login.status).toBe(303);
  expect(login.headers.location).toBe("/");
  const setCookie = String(login.headers["set-cookie"]);
  expect(setCookie).toMatch(/HttpOnly/);
  expect(setCookie).toMatch(/SameSite=Strict/);
  const cookie = setCookie.split(";")[0]!;
  const state = await send(port, "/api/state", { cookie });
  expect(state.status).toBe(200);
  return { cookie, csrf: (JSON.parse(state.body) as { csrf: string }).csrf };
}

describe("the page's server", () => {
  it("keeps its token in a 0600 file that only the running server lists, and removes it on close", async () => {
    const { home, ui } = await start();
    expect(statSync(uiFilePath(home)).mode & 0o777).toBe(0o600);
    const file = readUiFile(home);
    expect(file).toMatchObject({ port: ui.port, pid: process.pid });
    expect(file.token.length).toBeGreaterThanOrEqual(40);
    await ui.close();
    expect(() => readUiFile(home)).toThrow(/no management page is running/);
  });

  it("answers 401 JSON without the token, whatever the path", async () => {
    const { ui } = await start();
    for (const path of ["/", "/app.js", "/api/state", "/api/events", "/nope"]) {
      const r = await send(ui.port, path, {});
      expect(r.status, path).toBe(401);
      expect(r.headers["content-type"]).toBe("application/json");
      expect(JSON.parse(r.body)).toMatchObject({ error: "unauthorized" });
    }
    const wrong = await send(ui.port, "/api/state", { cookie: `${cookieName(ui.port)}=guess` });
    expect(wrong.status).toBe(401);
    const reused = await send(ui.port, "/login?code=guess", {});
    expect(reused.status).toBe(401);
  });

  it("rejects a foreign Host even with a valid token (DNS rebinding)", async () => {
    const { home, ui } = await start();
    const { token } = readUiFile(home);
    const auth = { authorization: `Bearer ${token}` };
    expect((await send(ui.port, "/api/state", auth)).status).toBe(200);
    expect((await send(ui.port, "/api/state", { ...auth, host: `localhost:${ui.port}` })).status).toBe(200);
    for (const host of [`rebind.example:${ui.port}`, "127.0.0.1", `127.0.0.1:${ui.port + 1}`]) {
      const r = await send(ui.port, "/api/state", { ...auth, host });
      expect(r.status, host).toBe(421);
      expect(JSON.parse(r.body)).toEqual({ error: "bad_host" });
    }
  });

  it("sets a strict CSP and the other defensive headers on every answer, errors included", async () => {
    const { home, ui } = await start();
    const { cookie } = await signIn(home, ui.port);
    for (const [path, headers] of [
      ["/", { cookie }],
      ["/app.js", { cookie }],
      ["/", {}],
      ["/", { host: "evil.example" }],
    ] as const) {
      const r = await send(ui.port, path, headers);
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) expect(r.headers[k], `${path} ${k}`).toBe(v);
    }
    const csp = SECURITY_HEADERS["content-security-policy"]!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).toContain("default-src 'none'");
    const page = await send(ui.port, "/", { cookie });
    // No inline script, style or handler; every file it loads is our own.
    expect(page.body).not.toMatch(/<script>|<style>|\son[a-z]+=/);
    const refs = [...page.body.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) expect(ref).toMatch(/^\/[a-z]/);
  });

  it("changes state only with the CSRF token from the page's own origin", async () => {
    const { home, ui } = await start();
    const { cookie, csrf } = await signIn(home, ui.port);
    const origin = `http://127.0.0.1:${ui.port}`;
    const json = { "content-type": "application/json" };
    const post = (headers: Record<string, string>, body = '{"confirm":true}') =>
      send(ui.port, "/api/agents/a1/enable", { cookie, ...json, ...headers }, "POST", body);

    expect((await post({ origin })).status).toBe(403); // no CSRF token
    expect(JSON.parse((await post({ origin, "x-csrf-token": "nope" })).body)).toEqual({
      error: "bad_csrf_token",
    });
    const otherPort = await post({ origin: "http://127.0.0.1:3000", "x-csrf-token": csrf });
    expect(JSON.parse(otherPort.body)).toEqual({ error: "bad_origin" });
    const sameSite = await post({ "sec-fetch-site": "same-site", "x-csrf-token": csrf });
    expect(sameSite.status).toBe(403);
    const formPost = await post({ origin, "x-csrf-token": csrf, "content-type": "text/plain" });
    expect(formPost.status).toBe(415);
    const unconfirmed = await post({ origin, "x-csrf-token": csrf }, "{}");
    expect(unconfirmed.status).toBe(400);
    expect(new Store(home).find("a1").enabled).toBe(false);

    const ok = await post({ origin, "x-csrf-token": csrf });
    expect(ok.status).toBe(200);
    expect(new Store(home).find("a1").enabled).toBe(true);
  });

  it("mints sign-in codes only for the token holder, never for a cookie", async () => {
    const { home, ui } = await start();
    const { cookie, csrf } = await signIn(home, ui.port);
    const headers = { cookie, origin: `http://127.0.0.1:${ui.port}`, "x-csrf-token": csrf };
    expect((await send(ui.port, "/api/login-code", headers, "POST")).status).toBe(401);
    const link = new URL(await requestSignInUrl(home));
    const first = await send(ui.port, `${link.pathname}${link.search}`, {});
    expect(first.status).toBe(303);
    const again = await send(ui.port, `${link.pathname}${link.search}`, {});
    expect(again.status).toBe(401);
  });
});
