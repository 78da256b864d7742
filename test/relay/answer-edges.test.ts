/**
 * Answers at the edges of HTTP/1.1, end to end (public client, relay, peer, local server): empty
 * bodies, trailers HTTP/2 refuses, framing that would split the public connection, a streaming
 * head, an answer that starts before the upload ends, and a reset in a body read to the close.
 */
import { request } from "node:http";
import { type ClientHttp2Session, connect } from "node:http2";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ERROR_HEADER } from "../../src/protocol/constants.ts";
import {
  cleanup,
  fetchVia,
  startLocalServer,
  startPeer,
  startRawLocalServer,
  startRelay,
} from "../helpers/harness.ts";
import { rawExchange } from "./helpers.ts";

const sessions: ClientHttp2Session[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await cleanup();
});

/** A raw TCP local server; its URL. */
async function rawLocal(answer: (socket: Socket, head: string) => void): Promise<string> {
  return (await startRawLocalServer((socket, _nth, head) => answer(socket, head))).url;
}

function h2Get(port: number, host: string, path: string, extra: Record<string, string> = {}) {
  const s = connect(`http://127.0.0.1:${port}`);
  s.on("error", () => {});
  sessions.push(s);
  return new Promise<{ status: number; body: string; trailers?: Record<string, unknown> }>(
    (resolve, reject) => {
      const req = s.request({ ":path": path, ":authority": host, ...extra });
      let status = 0;
      let body = "";
      let trailers: Record<string, unknown> | undefined;
      req.on("response", (h) => {
        status = Number(h[":status"]);
      });
      req.on("trailers", (t) => {
        trailers = t;
      });
      req.setEncoding("utf8");
      req.on("data", (c: string) => {
        body += c;
      });
      req.on("end", () => resolve({ status, body, ...(trailers ? { trailers } : {}) }));
      req.on("error", reject);
      req.end();
    },
  );
}

describe("answers at the edges", () => {
  it("completes answers with Content-Length: 0, and frees their slots on the peer", async () => {
    const local = await startLocalServer((_req, res) => {
      res.statusCode = 201;
      res.end();
    });
    const relay = await startRelay();
    const peer = await startPeer(relay, local.url, { maxInFlight: 2 });
    for (let i = 0; i < 6; i++) {
      const a = await fetchVia(relay.port(), peer.host, "/empty");
      expect(a.status).toBe(201);
      expect(a.body.byteLength).toBe(0);
    }
    expect((await h2Get(relay.port(), peer.host, "/empty")).status).toBe(201);
  });

  it("passes good trailers on and drops the ones HTTP/2 refuses, without harm to the relay", async () => {
    const url = await rawLocal((socket) =>
      socket.write(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n" +
          "Connection: close\r\nKeep-Alive: 5\r\nBad Name: x\r\nX-Digest: abc\r\nX-Digest: def\r\n\r\n",
      ),
    );
    const relay = await startRelay();
    const peer = await startPeer(relay, url);
    const over2 = await h2Get(relay.port(), peer.host, "/", { te: "trailers" });
    expect(over2.body).toBe("body");
    expect(over2.trailers?.["x-digest"]).toBe("abc, def");
    expect(over2.trailers?.connection).toBeUndefined();
    const over1 = await fetchVia(relay.port(), peer.host, "/", { headers: { te: "trailers" } });
    expect(over1.body.toString()).toBe("body");
    // The relay is still up and serving.
    expect((await h2Get(relay.port(), peer.host, "/")).status).toBe(200);
  });

  it("refuses an answer with both Content-Length and Transfer-Encoding: one response reaches the client", async () => {
    const url = await rawLocal((socket) =>
      socket.write(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" +
          "3f\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Injected: yes\r\n\r\nPWNED!\r\n0\r\n\r\n",
      ),
    );
    const relay = await startRelay();
    const peer = await startPeer(relay, url);
    const raw = await rawExchange(
      relay.port(),
      `GET / HTTP/1.1\r\nHost: ${peer.host}\r\n\r\nGET /second HTTP/1.1\r\nHost: ${peer.host}\r\nConnection: close\r\n\r\n`,
    );
    expect(raw.startsWith("HTTP/1.1 502")).toBe(true);
    expect(raw).toContain(`${ERROR_HEADER}: bad_response`);
    expect(raw).not.toContain("X-Injected");
  });

  it("shows a streaming answer's head before its first event", async () => {
    let sendEvent: () => void = () => {};
    const local = await startLocalServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.flushHeaders();
      sendEvent = () => res.end("data: one\n\n");
    });
    const relay = await startRelay();
    const peer = await startPeer(relay, local.url);
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: relay.port(),
          path: "/events",
          headers: { host: peer.host },
          agent: false,
        },
        (res) => {
          // The event is only written once the head is here: without the head, this never ends.
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => {
            text += c;
          });
          res.on("end", () => resolve(text));
          sendEvent();
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(body).toBe("data: one\n\n");
  });

  it("does not start the first-byte clock when the answer began before the upload ended", async () => {
    const local = await startLocalServer((req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("started;");
      req.resume();
      // A slow answer, well past the first-byte timeout after the upload ends.
      req.on("end", () => setTimeout(() => res.end("done"), 600));
    });
    const relay = await startRelay({ firstByteTimeoutMs: 200 });
    const peer = await startPeer(relay, local.url);
    const a = await fetchVia(relay.port(), peer.host, "/", { method: "POST", body: "upload" });
    expect(a.status).toBe(200);
    expect(a.body.toString()).toBe("started;done");
  });

  it("cuts an answer read to the close when the local server resets the connection", async () => {
    let local: Socket | undefined;
    const url = await rawLocal((socket) => {
      local = socket;
      socket.write("HTTP/1.1 200 OK\r\n\r\npartial-");
    });
    const relay = await startRelay();
    const peer = await startPeer(relay, url);
    const outcome = await new Promise<string>((resolve) => {
      const req = request(
        { host: "127.0.0.1", port: relay.port(), path: "/", headers: { host: peer.host }, agent: false },
        (res) => {
          // The first bytes are through the peer: now the local server crashes (TCP RST).
          res.once("data", () => local!.resetAndDestroy());
          res.on("end", () => resolve("complete"));
          res.on("error", () => resolve("cut"));
        },
      );
      req.on("error", () => resolve("cut"));
      req.end();
    });
    expect(outcome).toBe("cut");
  });

  it("answers 400 to an HTTP/2 request whose Host differs from its :authority", async () => {
    const local = await startLocalServer((_req, res) => res.end("ok"));
    const relay = await startRelay();
    const peer = await startPeer(relay, local.url);
    expect((await h2Get(relay.port(), peer.host, "/", { host: "someone-else.localhost" })).status).toBe(400);
    expect((await h2Get(relay.port(), peer.host, "/", { host: peer.host.toUpperCase() })).status).toBe(200);
  });

  it("keeps one value of a field HTTP/2 allows once, in the head and in the trailers, without harm", async () => {
    const url = await rawLocal((socket) =>
      socket.write(
        'HTTP/1.1 200 OK\r\nETag: "a"\r\nETag: "b"\r\nTransfer-Encoding: chunked\r\n\r\n' +
          '2\r\nok\r\n0\r\nETag: "c"\r\nETag: "d"\r\nX-More: 1\r\nX-More: 2\r\n\r\n',
      ),
    );
    const relay = await startRelay();
    const peer = await startPeer(relay, url);
    const a = await h2Get(relay.port(), peer.host, "/", { te: "trailers" });
    expect(a.status).toBe(200);
    expect(a.body).toBe("ok");
    expect(a.trailers?.etag).toBe('"c"');
    expect(a.trailers?.["x-more"]).toBe("1, 2");
    expect((await h2Get(relay.port(), peer.host, "/")).status).toBe(200); // still serving
  });

  it("passes a refused HTTP/2 WebSocket's answer on without the fields HTTP/2 refuses", async () => {
    const url = await rawLocal((socket) =>
      socket.write(
        "HTTP/1.1 403 Forbidden\r\nETag: a\r\nETag: b\r\nTransfer-Encoding: chunked\r\n\r\n" +
          "2\r\nno\r\n0\r\nConnection: close\r\n\r\n",
      ),
    );
    const relay = await startRelay();
    const peer = await startPeer(relay, url);
    const s = connect(`http://127.0.0.1:${relay.port()}`);
    s.on("error", () => {});
    sessions.push(s);
    await new Promise<void>((resolve) => s.once("remoteSettings", () => resolve()));
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = s.request(
        {
          ":method": "CONNECT",
          ":protocol": "websocket",
          ":scheme": "http",
          ":path": "/ws",
          ":authority": peer.host,
        },
        { endStream: false },
      );
      let status = 0;
      let body = "";
      req.on("response", (h) => {
        status = Number(h[":status"]);
      });
      req.setEncoding("utf8");
      req.on("data", (c: string) => {
        body += c;
      });
      req.on("end", () => resolve({ status, body }));
      req.on("error", reject);
    });
    expect(answer).toEqual({ status: 403, body: "no" });
    expect((await h2Get(relay.port(), peer.host, "/")).status).toBe(403); // the relay is still up
  });
});
