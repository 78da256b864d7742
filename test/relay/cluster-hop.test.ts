import { createHash, randomBytes } from "node:crypto";
import { connect } from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { HopClient, type HopServer, startHopServer } from "../../src/relay/cluster/internal.ts";
import { cleanup, fetchVia, startLocalServer } from "../helpers/harness.ts";

let hop: HopServer | undefined;
let client: HopClient | undefined;
afterEach(async () => {
  client?.close();
  await hop?.close();
  await cleanup();
});

const secret = "s3cret-for-tests-only";
const address = "cd".repeat(20);

async function setup() {
  hop = await startHopServer(
    "127.0.0.1",
    0,
    secret,
    (req, res, meta) => {
      const h = createHash("sha256");
      let n = 0;
      req.on("data", (c: Buffer) => {
        h.update(c);
        n += c.byteLength;
      });
      req.on("end", () => {
        res.writeHead(207, { "content-type": "application/json", "x-from": "owner" });
        res.end(
          JSON.stringify({
            method: req.method,
            url: req.url,
            meta,
            n,
            sha: h.digest("hex"),
            host: req.headers[":authority"],
            xa: req.headers["x-a"],
          }),
        );
      });
    },
    (res, status, code) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: code }));
    },
  );
  client = new HopClient(secret, "node-a");
  const c = client;
  const port = hop.port;
  // Node A's public side: every request goes over the hop.
  const front = await startLocalServer((req, res) => {
    c.forward(
      `http://127.0.0.1:${port}`,
      req,
      res,
      { address, clientIp: "203.0.113.9", proto: "http" },
      (err) => {
        res.writeHead(502);
        res.end(err.message);
      },
    );
  });
  return front;
}

describe("the internal hop between nodes", () => {
  it("carries method, path, headers and a streamed body over one h2 stream, and the answer back", async () => {
    const front = await setup();
    const body = randomBytes(3 * 1024 * 1024);
    const r = await fetchVia(front.port, `${address}.localhost:8080`, "/p?q=1", {
      method: "PUT",
      body,
      headers: {
        "x-a": "1",
        "x-agent-relay-address": "ff".repeat(20),
        "x-agent-relay-cluster-secret": "guess",
      },
    });
    expect(r.status).toBe(207);
    expect(r.headers["x-from"]).toBe("owner");
    const seen = JSON.parse(r.body.toString());
    expect(seen).toMatchObject({
      method: "PUT",
      url: "/p?q=1",
      host: `${address}.localhost:8080`,
      xa: "1",
      n: body.byteLength,
      sha: createHash("sha256").update(body).digest("hex"),
      meta: { address, clientIp: "203.0.113.9", proto: "http", fromNode: "node-a" },
    });
  });

  it("refuses a forged internal request without the secret", async () => {
    await setup();
    const session = connect(`http://127.0.0.1:${hop!.port}`);
    const status = await new Promise<number>((resolve) => {
      const req = session.request({
        ":path": "/",
        "x-agent-relay-address": address,
        "x-agent-relay-cluster-secret": "wrong",
      });
      req.on("response", (h) => resolve(Number(h[":status"])));
      req.resume();
      req.end();
    });
    session.close();
    expect(status).toBe(401);
  });
});
