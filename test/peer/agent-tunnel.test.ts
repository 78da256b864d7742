import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { AgentTunnel } from "../../src/peer/agent-tunnel.ts";
import { Backoff, RestartRetry } from "../../src/peer/backoff.ts";
import { AgentIdentity } from "../../src/peer/identity.ts";
import { SUBPROTOCOL, TUNNEL_PATH } from "../../src/protocol/constants.ts";
import {
  cleanup,
  fetchVia,
  silent,
  startLocalServer,
  startPeer,
  startRelay,
  waitForState,
} from "../helpers/harness.ts";

afterEach(cleanup);

describe("backoff", () => {
  it("draws each delay from [0, min(cap, base * 2^n)) and resets after a healthy connection", () => {
    const draws = [0.999, 0.5, 0, 0.999, 0.999, 0.999, 0.999, 0.999, 0.999];
    const b = new Backoff({ baseMs: 500, capMs: 60_000, resetAfterMs: 60_000, random: () => draws.shift()! });
    expect(b.next()).toBe(499); // ceiling 500
    expect(b.next()).toBe(500); // ceiling 1000, half
    expect(b.next()).toBe(0);
    expect(b.next()).toBe(3996); // ceiling 4000
    for (let i = 0; i < 4; i++) b.next();
    expect(b.ceiling()).toBe(60_000); // 500 * 2^8 capped
    b.connectionEnded(59_999);
    expect(b.attempts).toBe(8);
    b.connectionEnded(60_000);
    expect(b.attempts).toBe(0);
  });

  it("spaces real reconnect attempts within the jittered bounds", async () => {
    // Nothing listens on this port: every attempt fails at once and backs off.
    const gone = await startLocalServer(() => {});
    const port = gone.port;
    await new Promise<void>((r) => gone.server.close(() => r()));
    const tunnel = new AgentTunnel({
      name: "t",
      agentId: "id",
      identity: AgentIdentity.generate(),
      relayUrl: `ws://127.0.0.1:${port}`,
      target: new URL("http://127.0.0.1:9"),
      log: silent,
      backoff: { baseMs: 40, capMs: 200, resetAfterMs: 60_000 },
    });
    const attempts: number[] = [];
    const six = new Promise<void>((resolve) =>
      tunnel.on("attempt", (t) => {
        attempts.push(t);
        if (attempts.length === 6) resolve();
      }),
    );
    tunnel.start();
    await six;
    await tunnel.stop();
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    // Gap n waits at most min(cap, base * 2^n), plus the failed connect itself (loopback: a few ms).
    gaps.forEach((gap, n) => {
      expect(gap).toBeGreaterThanOrEqual(0);
      expect(gap).toBeLessThan(Math.min(200, 40 * 2 ** n) + 250);
    });
  });
});

describe("reconnecting after the relay says it is restarting", () => {
  it("gives a bounded burst of jittered delays, each from [0, min(cap, base * 2^n))", () => {
    const draws = [0.999, 0.999, 0.999, 0.5, 0];
    const r = new RestartRetry({ baseMs: 250, capMs: 1000, retries: 4, random: () => draws.shift()! });
    expect(r.next()).toBeUndefined(); // no restart announced: nothing quick
    r.begin();
    expect(r.active).toBe(true);
    expect([r.next(), r.next(), r.next(), r.next()]).toEqual([249, 499, 999, 500]);
    expect(r.next()).toBeUndefined(); // used up: the ordinary backoff takes over
    r.begin(); // the next restart: a fresh burst from the small ceiling again
    expect(r.next()).toBe(0);
    r.end();
    expect(r.next()).toBeUndefined();
  });

  /** A peer whose ordinary backoff counts its draws (each would wait close to a minute). */
  function countingPeer(relay: Awaited<ReturnType<typeof startRelay>>, local: string, retries: number) {
    const seen = { draws: 0, attempts: 0, attemptsAtFirstDraw: -1 };
    const extra = {
      backoff: {
        baseMs: 60_000,
        capMs: 60_000,
        resetAfterMs: 60_000,
        random: () => {
          if (seen.draws++ === 0) seen.attemptsAtFirstDraw = seen.attempts;
          return 0.999;
        },
      },
      restartRetry: { baseMs: 10, capMs: 40, retries },
      probe: false,
    };
    return { seen, start: () => startPeer(relay, local, extra) };
  }

  function attemptsAfter(tunnel: AgentTunnel, seen: { attempts: number }, n: number): Promise<void> {
    return new Promise((resolve) => {
      const on = () => {
        if (++seen.attempts >= n) {
          tunnel.off("attempt", on);
          resolve();
        }
      };
      tunnel.on("attempt", on);
    });
  }

  it("retries quickly while nothing listens, without advancing the ordinary backoff, and is back on the new relay", async () => {
    const local = await startLocalServer((_req, res) => res.end("ok"));
    const relay1 = await startRelay();
    const port = relay1.port();
    const { seen, start } = countingPeer(relay1, local.url, 1000);
    const peer = await start();
    const refused = attemptsAfter(peer.tunnel, seen, 4);
    await relay1.close(); // Go Away 3 and close 1012 to every tunnel
    await refused; // four attempts found the port closed
    const relay2 = await startRelay({ port });
    await waitForState(peer.tunnel, (s) => s.kind === "connected");
    expect((await fetchVia(relay2.port(), peer.host, "/")).body.toString()).toBe("ok");
    expect(seen.draws).toBe(0);
  });

  it("hands over to the ordinary backoff once the burst is used up", async () => {
    const local = await startLocalServer((_req, res) => res.end("ok"));
    const relay = await startRelay();
    const { seen, start } = countingPeer(relay, local.url, 3);
    const peer = await start();
    const firstDraw = new Promise<void>((resolve) => {
      peer.tunnel.on("attempt", () => {
        seen.attempts++;
      });
      peer.tunnel.on("state", () => {
        if (seen.draws > 0) resolve();
      });
    });
    await relay.close();
    await firstDraw;
    // The reconnect and two refused retries were quick; the third refusal drew from the backoff.
    expect(seen.attemptsAtFirstDraw).toBe(3);
    await peer.tunnel.stop();
  });

  it("stops the burst when the new relay refuses the connect for a limit of its own", async () => {
    const local = await startLocalServer((_req, res) => res.end("ok"));
    const relay1 = await startRelay();
    const port = relay1.port();
    const { seen, start } = countingPeer(relay1, local.url, 1_000_000);
    const peer = await start();
    await relay1.close();
    // The new relay has room for one unauthenticated socket per IP, and this one holds it.
    const relay2 = await startRelay({ port, rateLimitExempt: [], maxPendingPerIp: 1, authTimeoutMs: 60_000 });
    const holder = new WebSocket(`ws://127.0.0.1:${relay2.port()}${TUNNEL_PATH}`, [SUBPROTOCOL]);
    await new Promise((resolve) => holder.once("message", resolve));
    // Quick retries alone would go on for a million attempts; the 429 too_many_pending ends them.
    await waitForState(peer.tunnel, (s) => s.kind === "disconnected" && seen.draws > 0);
    expect(seen.draws).toBe(1);
    holder.close();
    await peer.tunnel.stop();
  });
});

describe("the tunnel peer", () => {
  it("reports connected only after the public URL answered through this tunnel", async () => {
    // A relay whose advertised public URL points at a port where nothing answers for it.
    const decoy = await startLocalServer((_req, res) => res.end("not the relay"));
    const relay = await startRelay({ publicBaseUrl: `http://localhost:${decoy.port}` });
    const local = await startLocalServer((_req, res) => res.end("ok"));
    const tunnel = new AgentTunnel({
      name: "t",
      agentId: "id",
      identity: AgentIdentity.generate(),
      relayUrl: relay.origin,
      target: new URL(local.url),
      log: silent,
      probeRetryMs: 60_000,
    });
    const states: string[] = [];
    tunnel.on("state", (s) => states.push(s.kind));
    tunnel.start();
    const s = await waitForState(tunnel, (st) => st.kind === "error");
    expect(s).toMatchObject({ kind: "error", reason: expect.stringMatching(/not this tunnel/) });
    expect(states).not.toContain("connected");
    expect(relay.registry.size).toBe(1); // the tunnel itself is up; only the public path fails
    await tunnel.stop();
  });

  it("reconnects by itself after the relay goes away and comes back on the same port", async () => {
    const local = await startLocalServer((_req, res) => res.end("ok"));
    const relay1 = await startRelay();
    const port = relay1.port();
    const peer = await startPeer(relay1, local.url, {
      backoff: { baseMs: 50, capMs: 200, resetAfterMs: 60_000 },
    });
    await relay1.close();
    await waitForState(peer.tunnel, (s) => s.kind !== "connected");
    const relay2 = await startRelay({ port });
    await waitForState(peer.tunnel, (s) => s.kind === "connected");
    const answer = await fetchVia(relay2.port(), peer.host, "/");
    expect(answer.body.toString()).toBe("ok");
  });

  it("does not reconnect once a newer tunnel for the same key takes over", async () => {
    const relay = await startRelay();
    const localA = await startLocalServer((_req, res) => res.end("A"));
    const localB = await startLocalServer((_req, res) => res.end("B"));
    const identity = AgentIdentity.generate();
    const a = await startPeer(relay, localA.url, { identity });
    expect((await fetchVia(relay.port(), a.host, "/")).body.toString()).toBe("A");
    const b = await startPeer(relay, localB.url, { identity });
    const s = await waitForState(a.tunnel, (st) => st.kind === "error");
    expect(s).toMatchObject({ kind: "error", reason: expect.stringMatching(/superseded/) });
    expect((await fetchVia(relay.port(), b.host, "/")).body.toString()).toBe("B");
    // The old peer stays down: its loop has ended and the relay still routes to B.
    expect(a.tunnel.state.kind).toBe("error");
    expect(relay.registry.size).toBe(1);
    expect((await fetchVia(relay.port(), b.host, "/again")).body.toString()).toBe("B");
  });

  it("injects configurable identity headers and strips any client copy of them", async () => {
    const relay = await startRelay();
    const local = await startLocalServer((req, res) => res.end(JSON.stringify(req.headers)));
    const names = {
      agentId: "X-Osaurus-Agent-Id",
      agentAddress: "X-Osaurus-Address",
      relayOrigin: "X-Via-Relay",
    };
    const peer = await startPeer(relay, local.url, { headerNames: names });
    const answer = await fetchVia(relay.port(), peer.host, "/", {
      headers: {
        "X-Osaurus-Agent-Id": "someone-else",
        "x-osaurus-address": "0x0000000000000000000000000000000000000000",
        "X-Via-Relay": "forged",
        "X-Forwarded-Proto": "https",
        authorization: "Bearer secret",
      },
    });
    const seen = JSON.parse(answer.body.toString());
    expect(seen["x-osaurus-agent-id"]).toBe(peer.agentId);
    expect(seen["x-osaurus-address"]).toBe(peer.identity.checksumAddress);
    expect(seen["x-via-relay"]).toBe("1");
    expect(seen["x-forwarded-proto"]).toBe("http");
    expect(seen.authorization).toBe("Bearer secret");
  });

  it("keeps two agents on one relay apart under 1,000 interleaved requests", async () => {
    const relay = await startRelay();
    const localA = await startLocalServer((req, res) => res.end(`A:${req.headers["x-agent-id"]}:${req.url}`));
    const localB = await startLocalServer((req, res) => res.end(`B:${req.headers["x-agent-id"]}:${req.url}`));
    const a = await startPeer(relay, localA.url);
    const b = await startPeer(relay, localB.url);
    const answers = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => {
        const p = i % 2 === 0 ? a : b;
        return fetchVia(relay.port(), p.host, `/${i}`).then((r) => [i, r.body.toString()] as const);
      }),
    );
    for (const [i, body] of answers) {
      expect(body).toBe(i % 2 === 0 ? `A:${a.agentId}:/${i}` : `B:${b.agentId}:/${i}`);
    }
  });

  it("answers 503 peer_busy past its in-flight cap", async () => {
    const relay = await startRelay();
    const held: Array<() => void> = [];
    const local = await startLocalServer((_req, res) => held.push(() => res.end("done")));
    const peer = await startPeer(relay, local.url, { maxInFlight: 2 });
    const first = [fetchVia(relay.port(), peer.host, "/1"), fetchVia(relay.port(), peer.host, "/2")];
    while (held.length < 2) await new Promise((r) => setImmediate(r));
    const third = await fetchVia(relay.port(), peer.host, "/3");
    expect(third.status).toBe(503);
    expect(JSON.parse(third.body.toString())).toEqual({ error: "peer_busy" });
    for (const h of held) h();
    for (const r of await Promise.all(first)) expect(r.body.toString()).toBe("done");
  });
});
