import { connect } from "node:net";
import { afterEach, expect, it } from "vitest";
import { cleanup, fetchVia, startLocalServer, startPeer, startRelay } from "../helpers/harness.ts";

afterEach(cleanup);

it("survives clients that hang up right after being refused with peer_busy", async () => {
  const relay = await startRelay();
  const held: Array<() => void> = [];
  const local = await startLocalServer((req, res) => {
    if (req.url === "/held") held.push(() => res.end("done"));
    else res.end("ok");
  });
  const peer = await startPeer(relay, local.url, { maxInFlight: 1 });
  const first = fetchVia(relay.port(), peer.host, "/held");
  while (held.length < 1) await new Promise((r) => setImmediate(r));
  // 50 clients send a request and drop the connection at once: the relay resets each stream while
  // the peer is refusing it.
  await Promise.all(
    Array.from(
      { length: 50 },
      () =>
        new Promise<void>((resolve) => {
          const s = connect(relay.port(), "127.0.0.1", () => {
            s.write(`GET /x HTTP/1.1\r\nHost: ${peer.host}\r\n\r\n`);
            s.destroy();
            resolve();
          });
          s.on("error", () => resolve());
        }),
    ),
  );
  const again = await fetchVia(relay.port(), peer.host, "/busy");
  expect(again.status).toBe(503);
  held[0]!();
  expect((await first).body.toString()).toBe("done");
  // The peer is alive and serving.
  const after = await fetchVia(relay.port(), peer.host, "/after");
  expect(after.body.toString()).toBe("ok");
});
