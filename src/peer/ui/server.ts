/**
 * The management page's HTTP server, on 127.0.0.1 only. Request path:
 *   Host check → fetch metadata → /login (one-time code → cookie) → token → CSRF (for POST) → route.
 * It writes <home>/ui.json (0600) so `agent-relay ui` can find and sign in to it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { PeerDaemon } from "../daemon.ts";
import type { Store } from "../store.ts";
import { type ApiContext, ApiError, checkAgentTarget, createAgent, readJson, setEnabled } from "./api.ts";
import { APP_JS } from "./assets/app.ts";
import { FAVICON_SVG, PAGE_HTML } from "./assets/page.ts";
import { STYLE_CSS } from "./assets/style.ts";
import { sendUiError } from "./errors.ts";
import { LiveFeed } from "./live.ts";
import { LoginCodes } from "./login-codes.ts";
import {
  authenticate,
  csrfAllowed,
  fetchMetadataAllowed,
  hostAllowed,
  newSecret,
  SECURITY_HEADERS,
  sessionCookie,
} from "./security.ts";
import { removeUiFile, writeUiFile } from "./ui-file.ts";
import { PublicUrls } from "./urls.ts";
import { agentView, requestView, type StateView } from "./view.ts";

export interface UiServerOptions {
  daemon: PeerDaemon;
  store: Store;
  /** 0 picks a free port. */
  port: number;
  /** When the port is taken, take a free one instead of failing (for the default port). */
  fallbackToFreePort?: boolean;
  log?: Logger;
  /** `up --agent <name>`: the page says only that agent runs. */
  only?: string;
}

export interface UiServer {
  readonly port: number;
  /** The page, without sign-in. */
  readonly url: string;
  close(): Promise<void>;
}

const STATIC: Record<string, { type: string; body: string }> = {
  "/": { type: "text/html; charset=utf-8", body: PAGE_HTML },
  "/app.js": { type: "text/javascript; charset=utf-8", body: APP_JS },
  "/style.css": { type: "text/css; charset=utf-8", body: STYLE_CSS },
  "/favicon.svg": { type: "image/svg+xml", body: FAVICON_SVG },
};

const AGENT_ACTION = /^\/api\/agents\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})\/(enable|disable|check)$/;

export async function startUiServer(o: UiServerOptions): Promise<UiServer> {
  const token = newSecret();
  const csrf = newSecret();
  const codes = new LoginCodes();
  const urls = new PublicUrls();
  const ctx: ApiContext = { daemon: o.daemon, store: o.store, log: o.log };
  let port = 0;

  const snapshot = (): StateView => {
    let relay: string | undefined;
    try {
      relay = o.store.load().relay;
    } catch {
      relay = undefined;
    }
    return {
      agents: o.daemon.status().map((a) => agentView(a, relay, urls)),
      relay: relay ?? null,
      only: o.only ?? null,
    };
  };
  const feed = new LiveFeed(snapshot);
  const onChange = () => feed.stateChanged();
  const onRequest = (r: Parameters<typeof requestView>[0]) => feed.addRequest(requestView(r));
  const onError = (err: Error) => {
    feed.notice(err.message);
    feed.stateChanged();
  };
  o.daemon.on("change", onChange);
  o.daemon.on("request", onRequest);
  o.daemon.on("error", onError);

  const json = (res: ServerResponse, status: number, data: unknown) => {
    const body = JSON.stringify(data);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  };

  const route = async (
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    auth: "cookie" | "bearer",
  ) => {
    const method = req.method ?? "GET";
    const asset = STATIC[path];
    if (asset) {
      if (method !== "GET" && method !== "HEAD") return sendUiError(res, "method_not_allowed");
      res.writeHead(200, { "content-type": asset.type, "content-length": Buffer.byteLength(asset.body) });
      return void res.end(asset.body);
    }
    if (method === "GET" && path === "/api/state") {
      return json(res, 200, { ...snapshot(), requests: feed.requests, csrf });
    }
    if (method === "GET" && path === "/api/events") return feed.attach(res);
    const action = AGENT_ACTION.exec(path);
    if (method === "GET" && action?.[2] === "check") {
      return json(res, 200, { verdict: await checkAgentTarget(ctx, action[1]!) });
    }
    if (method !== "POST")
      return sendUiError(res, path.startsWith("/api/") ? "method_not_allowed" : "not_found");

    if (path === "/api/login-code") {
      // Only the CLI, holding the token itself, mints sign-in codes.
      if (auth !== "bearer") return sendUiError(res, "unauthorized");
      return json(res, 200, { code: codes.issue() });
    }
    if (auth === "cookie") {
      const verdict = csrfAllowed(req.headers, csrf);
      if (verdict !== "ok") return sendUiError(res, verdict);
    }
    const body = await readJson(req);
    if (path === "/api/agents") return json(res, 201, createAgent(ctx, body));
    if (action && action[2] !== "check") {
      setEnabled(ctx, action[1]!, action[2] === "enable", body);
      return json(res, 200, { ok: true });
    }
    sendUiError(res, "not_found");
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    // DNS rebinding: a page at evil.example resolved to 127.0.0.1 still says Host: evil.example.
    if (!hostAllowed(req.headers.host, port)) return sendUiError(res, "bad_host");
    const method = req.method ?? "GET";
    if (!fetchMetadataAllowed(method, req.headers)) return sendUiError(res, "bad_origin");
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://ui.invalid");
    } catch {
      return sendUiError(res, "bad_request");
    }
    if (url.pathname === "/login" && method === "GET") {
      if (!codes.redeem(url.searchParams.get("code") ?? undefined)) {
        return sendUiError(
          res,
          "unauthorized",
          "this sign-in link was used or has expired; run `agent-relay ui` again",
        );
      }
      res.writeHead(303, { location: "/", "set-cookie": sessionCookie(port, token) });
      return void res.end();
    }
    const auth = authenticate(req.headers, port, token);
    if (!auth) return sendUiError(res, "unauthorized", UNAUTHORIZED_HINT);
    route(req, res, url.pathname, auth).catch((err: unknown) => {
      if (err instanceof ApiError)
        return sendUiError(res, err.code, err.message === err.code ? undefined : err.message);
      o.log?.error({ err: (err as Error).message, path: url.pathname }, "management page request failed");
      sendUiError(res, "internal_error");
    });
  };

  const server = createServer(handle);
  port = await listen(server, o.port, o.fallbackToFreePort === true);
  writeUiFile(o.store.home, { pid: process.pid, port, token });
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      o.daemon.off("change", onChange);
      o.daemon.off("request", onRequest);
      o.daemon.off("error", onError);
      removeUiFile(o.store.home);
      feed.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const UNAUTHORIZED_HINT = "sign in with `agent-relay ui`";

async function listen(server: Server, port: number, fallback: boolean): Promise<number> {
  const attempt = (p: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(p, "127.0.0.1", () => {
        server.off("error", reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  try {
    return await attempt(port);
  } catch (err) {
    if (!fallback || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    return attempt(0);
  }
}
