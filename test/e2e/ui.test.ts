/**
 * The management page in a real headless Chromium (Debian's `chromium`, driven by playwright-core),
 * against a real relay, a real daemon and the page's real server on loopback.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PeerDaemon } from "../../src/peer/daemon.ts";
import { Store } from "../../src/peer/store.ts";
import { startUiServer, type UiServer } from "../../src/peer/ui/server.ts";
import { requestSignInUrl } from "../../src/peer/ui/sign-in.ts";
import { killAll, run, start, tempHome } from "../helpers/cli.ts";
import { cleanup, fetchVia, silent, startLocalServer, startRelay } from "../helpers/harness.ts";

const OUTPUT = join(import.meta.dirname, "..", "..", "test-output");

let browser: Browser;
const contexts: BrowserContext[] = [];
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
      // A name that resolves to loopback, as a DNS-rebinding attacker's would.
      "--host-resolver-rules=MAP rebind.test 127.0.0.1",
    ],
  });
});

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  killAll();
  for (const c of contexts.splice(0)) await c.close();
  for (const s of stops.splice(0).reverse()) await s();
  await cleanup();
});

async function setup() {
  const relay = await startRelay();
  const local = await startLocalServer((req, res) => {
    if (req.url === "/attack") {
      // A page on another 127.0.0.1 port: the same site as the management page, another origin.
      res.writeHead(200, { "content-type": "text/html" });
      return void res.end("<!doctype html><title>another local app</title>");
    }
    req.resume();
    req.on("end", () => {
      res.writeHead(req.url?.startsWith("/missing") ? 404 : 200, { "content-type": "text/plain" });
      res.end(`hello from ${req.url}`);
    });
  });
  const home = tempHome();
  const store = new Store(home);
  store.updateSettings((s) => {
    s.relay = relay.origin;
  });
  const { identity } = store.createAgent("demo", local.url);
  const daemon = new PeerDaemon({ store, log: silent });
  daemon.start();
  const ui = await startUiServer({ daemon, store, port: 0, log: silent });
  stops.push(
    () => daemon.stop(),
    () => ui.close(),
  );
  const publicHost = `${identity.hexAddress}.localhost:${relay.port()}`;
  return { relay, local, home, store, daemon, ui, publicHost, publicUrl: `http://${publicHost}` };
}

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  contexts.push(context);
  return { context, page: await context.newPage() };
}

/** Opens the page signed in, the way `agent-relay ui` does. */
async function openSignedIn(home: string, ui: UiServer): Promise<Page> {
  const { page } = await newPage();
  const response = await page.goto(await requestSignInUrl(home));
  expect(response?.status()).toBe(200);
  expect(page.url()).toBe(ui.url); // the one-time code is gone from the address bar
  await page.locator("#live:not(.off)").waitFor();
  return page;
}

const row = (page: Page, name: string) => page.locator(`tr[data-agent="${name}"]`);
const badge = (page: Page, name: string) => row(page, name).locator(".badge");
const toggle = (page: Page, name: string) => page.getByRole("switch", { name: `Public access for ${name}` });

describe("the management page in a real browser", () => {
  it("enables an agent only through the dialog, shows it connected and its requests live, and disables it", async () => {
    const { relay, local, home, store, ui, publicHost, publicUrl } = await setup();
    const page = await openSignedIn(home, ui);
    const enablePosts: string[] = [];
    page.on("request", (r) => {
      if (r.method() === "POST" && r.url().endsWith("/enable")) enablePosts.push(r.url());
    });

    expect(await badge(page, "demo").textContent()).toBe("Disconnected");
    expect(await toggle(page, "demo").getAttribute("aria-checked")).toBe("false");
    expect(await row(page, "demo").locator(".url code").textContent()).toBe(publicUrl);

    // Create a second agent from the page.
    await page.getByLabel("Name").fill("notes");
    await page.getByLabel("Target").fill(local.url);
    await page.getByRole("button", { name: "Create" }).click();
    await row(page, "notes").waitFor();
    expect(store.find("notes")).toMatchObject({ target: local.url, enabled: false });

    // Switching on asks first; Cancel (or Escape) leaves the agent off and sends nothing.
    const dialog = page.locator("dialog#confirm");
    await toggle(page, "demo").click();
    await dialog.waitFor();
    const text = (await dialog.textContent()) ?? "";
    expect(text).toContain("publicly reachable at");
    expect(text).toContain(publicUrl);
    expect(text).toContain("The local server's own access keys are the only protection.");
    await dialog.getByText(/answered 200 without any credentials/).waitFor();
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, "ui-dialog.png") });
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    await toggle(page, "demo").click();
    await dialog.waitFor();
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    expect(enablePosts).toEqual([]);
    expect(await toggle(page, "demo").getAttribute("aria-checked")).toBe("false");
    expect(store.find("demo").enabled).toBe(false);
    expect(relay.registry.size).toBe(0);

    // Only "Enable" turns it on: saved to the settings file, and the tunnel comes up.
    await toggle(page, "demo").click();
    await dialog.getByRole("button", { name: "Enable" }).click();
    await row(page, "demo").locator(".badge.connected").waitFor({ timeout: 20_000 });
    expect(await badge(page, "demo").textContent()).toBe("Connected");
    expect(enablePosts).toHaveLength(1);
    expect(store.find("demo").enabled).toBe(true);
    expect(await toggle(page, "demo").getAttribute("aria-checked")).toBe("true");
    expect(await row(page, "demo").locator(".url code").textContent()).toBe(publicUrl);
    expect(await row(page, "demo").locator(".url .tag").count()).toBe(0); // exact, told by the relay

    // Requests through the public URL appear live: method, path, status; no query, no credentials.
    const hello = await fetchVia(relay.port(), publicHost, "/hello?api_key=SECRET-QUERY", {
      headers: { authorization: "Bearer SECRET-HEADER" },
    });
    expect(hello.status).toBe(200);
    await fetchVia(relay.port(), publicHost, "/v1/chat", { method: "POST", body: '{"q":"SECRET-BODY"}' });
    await fetchVia(relay.port(), publicHost, "/missing");
    const requests = page.locator("#requests tbody tr");
    await requests.filter({ hasText: "/missing" }).waitFor();
    const first = requests.filter({ hasText: "/hello" });
    expect(await first.locator("td").allTextContents()).toEqual([
      expect.stringMatching(/^\d\d:\d\d:\d\d$/),
      "demo",
      "GET",
      "/hello",
      "200",
      expect.stringMatching(/^\d+ ms$/),
      expect.stringMatching(/^\d+ B \/ \d+ B$/),
    ]);
    expect(await requests.filter({ hasText: "/v1/chat" }).locator("td").nth(2).textContent()).toBe("POST");
    expect(await requests.filter({ hasText: "/missing" }).locator("td").nth(4).textContent()).toBe("404");
    const html = await page.content();
    for (const secret of ["SECRET-QUERY", "SECRET-HEADER", "SECRET-BODY"]) expect(html).not.toContain(secret);

    await page.screenshot({ path: join(OUTPUT, "ui.png"), fullPage: true });

    // Switching off needs no dialog, and the public URL answers 502 agent_offline.
    await toggle(page, "demo").click();
    expect(await dialog.isVisible()).toBe(false);
    await row(page, "demo").locator(".badge.disconnected").waitFor();
    expect(await toggle(page, "demo").getAttribute("aria-checked")).toBe("false");
    expect(store.find("demo").enabled).toBe(false);
    let offline = await fetchVia(relay.port(), publicHost, "/after");
    // A request racing the tunnel's goodbye may get tunnel_error; once it is gone, agent_offline.
    for (let i = 0; i < 50 && !offline.body.includes("agent_offline"); i++)
      offline = await fetchVia(relay.port(), publicHost, "/after");
    expect(offline.status).toBe(502);
    expect(JSON.parse(offline.body.toString())).toEqual({ error: "agent_offline" });
  });

  it("shows changes made by the CLI (the same settings file) without a reload", async () => {
    const { home, store, ui } = await setup();
    const page = await openSignedIn(home, ui);
    store.createAgent("from-cli", "http://127.0.0.1:9");
    await row(page, "from-cli").waitFor();
    store.update("demo", (a) => {
      a.enabled = true;
    });
    await row(page, "demo").locator(".badge.connected").waitFor({ timeout: 20_000 });
    expect(await toggle(page, "demo").getAttribute("aria-checked")).toBe("true");
  });

  it("answers 401 without the token and refuses a rebound Host", async () => {
    const { home, ui } = await setup();
    const { page } = await newPage();
    const anonymous = await page.goto(ui.url);
    expect(anonymous?.status()).toBe(401);
    expect(JSON.parse((await page.locator("body").textContent()) ?? "")).toMatchObject({
      error: "unauthorized",
    });
    expect((await page.goto(`${ui.url}api/state`))?.status()).toBe(401);

    // Signed in on 127.0.0.1, the same server under another name is refused, cookie or not.
    const signedIn = await openSignedIn(home, ui);
    const rebound = await signedIn.goto(`http://rebind.test:${ui.port}/`);
    expect(rebound?.status()).toBe(421);
    expect(JSON.parse((await signedIn.locator("body").textContent()) ?? "")).toEqual({ error: "bad_host" });
  });

  it("does not let a page on another local port switch an agent on, even though the browser sends the cookie", async () => {
    const { local, home, store, ui } = await setup();
    const page = await openSignedIn(home, ui);
    await page.goto(`${local.url}/attack`);
    // The answer is blocked from the page (Cross-Origin-Resource-Policy), so read it off the wire.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.enable");
    const urls = new Map<string, string>();
    const sent = new Map<string, Record<string, unknown>>();
    const got = new Map<string, { status: number; headers: Record<string, unknown> }>();
    const target = `${ui.url}api/agents/demo/enable`;
    const wire = new Promise<{
      status: number;
      headers: Record<string, unknown>;
      request: Record<string, unknown>;
    }>((resolve) => {
      const check = () => {
        for (const [id, url] of urls) {
          const answer = got.get(id);
          const request = sent.get(id);
          if (url === target && answer && request) resolve({ ...answer, request });
        }
      };
      cdp.on("Network.requestWillBeSent", (e) => {
        urls.set(e.requestId, e.request.url);
        check();
      });
      cdp.on("Network.requestWillBeSentExtraInfo", (e) => {
        sent.set(e.requestId, e.headers);
        check();
      });
      cdp.on("Network.responseReceivedExtraInfo", (e) => {
        got.set(e.requestId, { status: e.statusCode, headers: e.headers });
        check();
      });
    });
    const outcome = await page.evaluate(async (url) => {
      try {
        await fetch(url, {
          method: "POST",
          mode: "no-cors",
          credentials: "include",
          headers: { "content-type": "text/plain" },
          body: '{"confirm":true}',
        });
        return "answered";
      } catch {
        return "blocked";
      }
    }, target);
    expect(outcome).toBe("blocked");
    const { status, headers, request } = await wire;
    expect(String(request.Cookie ?? request.cookie)).toContain(`agent_relay_ui_${ui.port}=`);
    expect(request.Origin ?? request.origin).toBe(local.url);
    expect(status).toBe(403);
    expect(headers["x-agent-relay-error"]).toBe("bad_origin");
    expect(store.find("demo").enabled).toBe(false);
  });

  it("agent-relay up serves the page (not with --no-ui) and agent-relay ui signs a browser in", async () => {
    const relay = await startRelay();
    const local = await startLocalServer((_req, res) => res.end("ok"));
    const home = tempHome();
    await run(home, ["agent", "create", "a1", "--target", local.url]);
    await run(home, ["agent", "enable", "a1", "--yes"]);

    const quiet = start(home, ["up", "--relay", relay.origin, "--no-ui"]);
    await quiet.waitFor(/a1: http:\/\/\S+ -> /);
    expect(quiet.output()).not.toContain("management page");
    expect((await run(home, ["ui", "--print"])).stderr).toMatch(/no management page is running/);
    quiet.child.kill("SIGTERM");
    await quiet.exited;

    const up = start(home, ["up", "--ui-port", "0"]);
    const pageUrl = (await up.waitFor(/management page: (http:\/\/127\.0\.0\.1:\d+\/)/))[1]!;
    await up.waitFor(/a1: http:\/\/\S+ -> /);
    const ui = await run(home, ["ui", "--print"]);
    expect(ui.code).toBe(0);
    const link = /(http:\/\/127\.0\.0\.1:\d+\/login\?code=\S+)/.exec(ui.stdout)![1]!;
    expect(link.startsWith(pageUrl)).toBe(true);
    expect(ui.stdout).not.toContain(JSON.parse(readFileSync(join(home, "ui.json"), "utf8")).token);

    const { page } = await newPage();
    expect((await page.goto(link))?.status()).toBe(200);
    await row(page, "a1").locator(".badge.connected").waitFor({ timeout: 20_000 });
    // The link works once.
    const { page: second } = await newPage();
    expect((await second.goto(link))?.status()).toBe(401);

    up.child.kill("SIGTERM");
    expect(await up.exited).toBe(0);
    expect(existsSync(join(home, "ui.json"))).toBe(false);
  });
});
