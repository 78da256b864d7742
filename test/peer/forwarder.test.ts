/**
 * The forwarder's stream lifecycle against real sessions and a real local port: every request,
 * answered or refused, ends its stream and frees its in-flight slot.
 */
import { once } from "node:events";
import { type AddressInfo, createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { Forwarder } from "../../src/peer/forwarder.ts";
import type { YamuxStream } from "../../src/yamux/stream.ts";
import { rawSessionPair, until } from "../yamux/pipe.ts";

/** A loopback port nothing listens on (bound, then closed). */
async function refusedPort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address() as AddressInfo;
  srv.close();
  await once(srv, "close");
  return port;
}

describe("forwarder", () => {
  it("a POST whose body the local socket would not take, to a server that is down: 502, and the stream ends", async () => {
    const port = await refusedPort();
    const { opener: relay, acceptor: peer } = rawSessionPair();
    const f = new Forwarder({
      target: new URL(`http://127.0.0.1:${port}`),
      agentId: "a",
      address: `0x${"1".repeat(40)}`,
      maxInFlight: 8,
    });
    peer.on("stream", (s: YamuxStream) => f.handle(s));
    const s = relay.openStream();
    let answer = "";
    let closed = false;
    s.attach({
      data: (c) => {
        answer += c.toString("latin1");
      },
      end: () => s.end(), // the relay read the whole answer: its FIN
      drain() {},
      close: () => {
        closed = true;
      },
    });
    // Larger than a connecting socket buffers (so the stream is paused), smaller than a window.
    const body = 100_000;
    s.write(`POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: ${body}\r\n\r\n`);
    s.write(Buffer.alloc(body, 0x61));
    await until(() => closed, "the relay's stream closes");
    expect(answer).toMatch(/^HTTP\/1\.1 502 local_unreachable\r\n/);
    await until(() => peer.streamCount === 0, "the peer's stream ends too");
    expect(f.inFlight).toBe(0);
    f.close();
  });
});
