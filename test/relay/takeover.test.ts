/**
 * Two peers holding one key: the newest tunnel wins. The old one gets GoAway "superseded", its
 * in-flight streams finish normally, then it is closed with 4100; new requests go to the new one.
 */
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { AgentIdentity } from "../../src/peer/identity.ts";
import { CLOSE_CODES } from "../../src/protocol/errors.ts";
import { cleanup, fetchVia, startLocalServer, startPeer, waitForState } from "../helpers/harness.ts";
import { eventually, metric, startStrictRelay } from "./helpers.ts";

afterEach(cleanup);

describe("takeover", () => {
  it("routes new requests to the newest tunnel while the old one finishes its streams", async () => {
    const relay = await startStrictRelay();
    const identity = AgentIdentity.generate();
    const held: Array<() => void> = [];
    const oldLocal = await startLocalServer((req, res) => {
      if (req.url === "/long") held.push(() => res.end("old, finished"));
      else res.end("old");
    });
    const newLocal = await startLocalServer((_req, res) => res.end("new"));

    const first = await startPeer(relay, oldLocal.url, { identity, probe: false });
    const oldWs = (first.tunnel as unknown as { current?: { ws: WebSocket } }).current!.ws;
    const oldClose = new Promise<number>((resolve) => oldWs.once("close", (c) => resolve(c)));
    expect((await fetchVia(relay.port(), first.host, "/")).body.toString()).toBe("old");
    const long = [fetchVia(relay.port(), first.host, "/long"), fetchVia(relay.port(), first.host, "/long")];
    expect(await eventually(5000, () => held.length === 2)).toBe(true);

    const second = await startPeer(relay, newLocal.url, { identity, probe: false });
    expect(second.host).toBe(first.host);
    for (let i = 0; i < 5; i++)
      expect((await fetchVia(relay.port(), first.host, "/")).body.toString()).toBe("new");
    // Superseded, but still open: its two streams are in flight.
    expect(oldWs.readyState).toBe(oldWs.OPEN);

    for (const h of held.splice(0)) h();
    const done = await Promise.all(long);
    expect(done.map((d) => [d.status, d.body.toString()])).toEqual([
      [200, "old, finished"],
      [200, "old, finished"],
    ]);
    expect(await oldClose).toBe(CLOSE_CODES.superseded);
    // The old peer stays down rather than fight for the address.
    await waitForState(first.tunnel, (s) => s.kind === "error");
    expect(relay.registry.size).toBe(1);
    expect((await fetchVia(relay.port(), first.host, "/")).body.toString()).toBe("new");
    expect(await metric(relay, "agent_relay_tunnel_takeovers_total")).toBe(1);
    expect(await metric(relay, 'agent_relay_tunnel_auth_total{result="ok"}')).toBe(2);
  });
});
