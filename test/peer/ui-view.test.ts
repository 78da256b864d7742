import { createServer, get } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { LiveFeed, MAX_REQUESTS } from "../../src/peer/ui/live.ts";
import { guessUrl, PublicUrls } from "../../src/peer/ui/urls.ts";
import {
  agentView,
  type RequestView,
  requestView,
  type StateView,
  shortAddress,
} from "../../src/peer/ui/view.ts";

const ADDRESS = "0x47A6a2d1d41a37E69b7729eE25611F9cF7F140DA";
const LABEL = ADDRESS.slice(2).toLowerCase();

describe("public URLs on the page", () => {
  it("infers the URL from the relay setting until the relay tells the real one", () => {
    expect(guessUrl("ws://127.0.0.1:8080/", LABEL)).toEqual({
      url: `http://${LABEL}.localhost:8080`,
      exact: false,
    });
    expect(guessUrl("wss://relay.example.com/", LABEL)).toEqual({
      url: `https://${LABEL}.relay.example.com`,
      exact: false,
    });
    expect(guessUrl(undefined, LABEL)).toBeUndefined();

    const urls = new PublicUrls();
    const relay = "wss://relay.example.com/";
    urls.learn(relay, "https://0000000000000000000000000000000000000001.agents.example.net");
    // Another agent of the same relay: exact, from the base the relay uses.
    expect(urls.urlFor(relay, ADDRESS)).toEqual({ url: `https://${LABEL}.agents.example.net`, exact: true });
    // A different relay setting: back to a guess.
    expect(urls.urlFor("wss://other.example/", ADDRESS)).toMatchObject({ exact: false });
  });

  it("shows the connected URL, the state and the reason, and never the agent's id", () => {
    const urls = new PublicUrls();
    const view = agentView(
      {
        name: "a",
        address: ADDRESS,
        target: "http://127.0.0.1:3000",
        enabled: true,
        state: { kind: "error", reason: "public URL answered 404, not this tunnel" },
        sinceMs: 1500,
        inFlight: 0,
      },
      "ws://127.0.0.1:8080/",
      urls,
    );
    expect(view).toMatchObject({
      shortAddress: "0x47A6…40DA",
      state: "error",
      reason: "public URL answered 404, not this tunnel",
      url: `http://${LABEL}.localhost:8080`,
      urlExact: false,
    });
    expect(Date.now() - view.since!).toBeGreaterThanOrEqual(1500);
    expect(Object.keys(view)).not.toContain("id");
    expect(shortAddress("0x12")).toBe("0x12");
  });

  it("keeps only method, path (no query), status, time and sizes of a request", () => {
    const v = requestView({
      method: "GET",
      path: `/x?token=secret`,
      status: 200,
      bytesIn: 10,
      bytesOut: 20,
      ms: 3.4,
      agent: "a",
      time: 1,
    });
    expect(v).toEqual({
      time: 1,
      agent: "a",
      method: "GET",
      path: "/x",
      status: 200,
      ms: 3,
      bytesIn: 10,
      bytesOut: 20,
    });
    expect(requestView({ ...v, path: `/${"p".repeat(2000)}` }).path).toHaveLength(512);
  });
});

describe("the live feed", () => {
  const closers: Array<() => void> = [];
  afterEach(() => {
    for (const c of closers.splice(0)) c();
  });

  it("keeps the last 500 requests and streams state and requests over SSE", async () => {
    let agents = 0;
    const feed = new LiveFeed((): StateView => ({ agents: [], relay: `r${++agents}`, only: null }));
    const server = createServer((_req, res) => feed.attach(res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    closers.push(() => {
      feed.close();
      server.closeAllConnections();
      server.close();
    });
    const record = (i: number): RequestView => ({
      time: i,
      agent: "a",
      method: "GET",
      path: `/${i}`,
      status: 200,
      ms: 1,
      bytesIn: 0,
      bytesOut: 0,
    });
    for (let i = 0; i < 600; i++) feed.addRequest(record(i));
    expect(feed.requests).toHaveLength(MAX_REQUESTS);
    expect(feed.requests[0]!.path).toBe("/100");

    const events: Array<{ event: string; data: unknown }> = [];
    let buffer = "";
    const waiters: Array<() => void> = [];
    const want = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => (events.length >= n ? resolve() : waiters.push(check));
        check();
      });
    await new Promise<void>((resolve, reject) => {
      get({ host: "127.0.0.1", port: (server.address() as AddressInfo).port, path: "/" }, (res) => {
        expect(res.headers["content-type"]).toMatch(/^text\/event-stream/);
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          buffer += c;
          let end = buffer.indexOf("\n\n");
          while (end !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const name = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (name && data) events.push({ event: name, data: JSON.parse(data) });
            end = buffer.indexOf("\n\n");
          }
          for (const w of waiters.splice(0)) w();
        });
        resolve();
      }).on("error", reject);
    });
    await want(2);
    expect(events[0]).toEqual({ event: "state", data: { agents: [], relay: "r1", only: null } });
    expect(events[1]!.event).toBe("backlog");
    expect((events[1]!.data as RequestView[]).map((r) => r.path)).toEqual(
      Array.from({ length: 500 }, (_, i) => `/${i + 100}`),
    );

    feed.addRequest(record(600));
    feed.stateChanged();
    feed.stateChanged(); // coalesced with the one above
    feed.notice("agent b has no target");
    await want(5);
    expect(events.slice(2)).toEqual([
      { event: "request", data: record(600) },
      { event: "notice", data: { message: "agent b has no target" } },
      { event: "state", data: { agents: [], relay: "r2", only: null } },
    ]);
  });
});
