import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, startLocalServer, startPeer, startRelay } from "../helpers/harness.ts";

afterEach(cleanup);

/** Sends raw bytes to the relay and collects everything it answers until it closes or goes quiet. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1", () => s.write(bytes));
    let out = "";
    let quiet: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(quiet);
      s.destroy();
      resolve(out);
    };
    s.on("data", (c) => {
      out += c.toString("latin1");
      clearTimeout(quiet);
      // Nothing more after a complete answer: the relay has said all it will say.
      quiet = setTimeout(done, 300);
    });
    s.on("close", done);
    s.on("error", done);
  });
}

async function setup() {
  const relay = await startRelay();
  const seen: string[] = [];
  const local = await startLocalServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers["x-agent-id"]}`);
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  const a = await startPeer(relay, local.url);
  const b = await startPeer(relay, local.url);
  return { relay, seen, a, b };
}

describe("malformed public HTTP never desynchronises a stream", () => {
  it("refuses Transfer-Encoding with Content-Length, and nothing smuggled reaches the local server", async () => {
    const { relay, seen, a } = await setup();
    for (const te of ["chunked", " chunked", "chunked, identity", "xchunked"]) {
      const answer = await raw(
        relay.port(),
        `POST /front HTTP/1.1\r\nHost: ${a.host}\r\nContent-Length: 6\r\nTransfer-Encoding:${te}\r\n\r\n` +
          `0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: ${a.host}\r\n\r\n`,
      );
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    }
    expect(seen.filter((r) => r.includes("smuggled"))).toEqual([]);
  });

  it("refuses CR or LF inside a header value (no header injection)", async () => {
    const { relay, seen, a } = await setup();
    const answer = await raw(
      relay.port(),
      `GET /x HTTP/1.1\r\nHost: ${a.host}\r\nX-A: one\rX-Agent-Id: forged\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(seen).toEqual([]);
  });

  it("routes an absolute-form request by its Host, to that agent only", async () => {
    const { relay, seen, a, b } = await setup();
    const answer = await raw(
      relay.port(),
      `GET http://${b.host}/other HTTP/1.1\r\nHost: ${a.host}\r\nConnection: close\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    // It reached agent A, whose Host it carried, and not B named in the target.
    expect(seen).toEqual([`GET http://${b.host}/other ${a.agentId}`]);
  });
});
