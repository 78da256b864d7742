/**
 * Routing by Host: unit cases for the parser, then the same cases through a real relay and peer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostHeader, hostName, routeHost } from "../../src/relay/host.ts";
import {
  cleanup,
  fetchVia,
  type StartedPeer,
  startLocalServer,
  startPeer,
  startRelay,
} from "../helpers/harness.ts";

const ADDR = "52908400098527886e0f7030069857d2e4169ee7";
const MIXED = "52908400098527886E0F7030069857D2E4169EE7";

describe("hostName", () => {
  it.each([
    ["Example.COM", "example.com"],
    ["example.com:8080", "example.com"],
    ["example.com.", "example.com"],
    ["example.com.:443", "example.com"],
    ["  example.com  ", "example.com"],
    ["[::1]:8080", "[::1]"],
    ["[::1]", "[::1]"],
    ["[2001:DB8::1]", "[2001:db8::1]"],
    ["[::1", "[::1"],
    ["", ""],
  ])("%j → %j", (host, name) => {
    expect(hostName(host)).toBe(name);
  });
});

describe("routeHost", () => {
  const agent = { kind: "agent", address: ADDR };
  it.each([
    [`${ADDR}.localhost`, agent],
    [`${MIXED}.localhost`, agent], // uppercase hex
    [`${ADDR}.LOCALHOST`, agent],
    [`${ADDR}.localhost:8080`, agent], // with a port
    [`${ADDR}.localhost.`, agent], // trailing dot (fully qualified)
    [`${ADDR}.localhost.:80`, agent],
    ["localhost", { kind: "relay" }],
    ["localhost:8080", { kind: "relay" }],
    ["LOCALHOST.", { kind: "relay" }],
    ["127.0.0.1:8080", { kind: "relay" }],
    ["[::1]:8080", { kind: "relay" }], // IPv6 literal
    ["[::1]", { kind: "relay" }],
    ["other.example", { kind: "relay" }],
    [`${ADDR}.localhost.evil.example`, { kind: "relay" }],
    [`${ADDR}localhost`, { kind: "relay" }],
    [`0x${ADDR}.localhost`, { kind: "invalid" }], // 0x prefix is not part of the label
    [`${ADDR.slice(1)}.localhost`, { kind: "invalid" }], // 39 digits
    [`${ADDR}0.localhost`, { kind: "invalid" }], // 41 digits
    [`xn--${ADDR.slice(4)}.localhost`, { kind: "invalid" }], // punycode label
    [`www.${ADDR}.localhost`, { kind: "invalid" }],
    [".localhost", { kind: "invalid" }],
    [`${ADDR}.localhost..`, { kind: "relay" }], // two dots: not our domain
    [`${ADDR.slice(0, 39)}\u0435.localhost`, { kind: "invalid" }], // Cyrillic е lookalike
    [`${ADDR.slice(0, 39)}ｅ.localhost`, { kind: "invalid" }], // fullwidth ｅ
  ])("%j", (host, route) => {
    expect(routeHost(host, "localhost")).toEqual(route);
  });

  it("does not let a lookalike that lowercases into ASCII reach an agent", () => {
    // U+212A KELVIN SIGN lowercases to "k": without the ASCII check this routed to the agent.
    expect(routeHost(`${ADDR}.tunnel.lin\u212a`, "tunnel.link")).toEqual({ kind: "invalid" });
    expect(routeHost(`${ADDR}.tunnel.link`, "tunnel.link")).toEqual({ kind: "agent", address: ADDR });
    // U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE lowercases to "i" + a combining dot.
    expect(routeHost(`${ADDR}.l\u0130nk`, "link").kind).not.toBe("agent");
  });

  it("no Host at all is the relay itself", () => {
    expect(routeHost(undefined, "localhost")).toEqual({ kind: "relay" });
    expect(routeHost("", "localhost")).toEqual({ kind: "relay" });
  });

  it("a multi-label domain only matches whole labels", () => {
    expect(routeHost(`${ADDR}.relay.example.com`, "relay.example.com")).toEqual({
      kind: "agent",
      address: ADDR,
    });
    expect(routeHost(`${ADDR}.evilrelay.example.com`, "relay.example.com")).toEqual({ kind: "relay" });
    expect(routeHost(`${ADDR}.example.com`, "relay.example.com")).toEqual({ kind: "relay" });
  });
});

describe("hostHeader", () => {
  it("finds the one Host, whatever its case", () => {
    expect(hostHeader(["Accept", "*/*", "HOST", "a.localhost"])).toBe("a.localhost");
    expect(hostHeader(["host", ""])).toBe("");
  });
  it("says undefined when there is none and null when there are two", () => {
    expect(hostHeader(["Accept", "*/*"])).toBeUndefined();
    expect(hostHeader(["Host", "a.localhost", "Accept", "*/*", "host", "b.localhost"])).toBeNull();
    expect(hostHeader(["Host", "a.localhost", "Host", "a.localhost"])).toBeNull();
  });
});

describe("the same cases through a real relay", () => {
  let port: number;
  let peer: StartedPeer;
  beforeAll(async () => {
    const relay = await startRelay();
    const local = await startLocalServer((req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`local saw host=${req.headers.host}`);
    });
    peer = await startPeer(relay, local.url);
    port = relay.port();
  });
  afterAll(cleanup);

  it.each([
    ["lowercase", (a: string) => `${a}.localhost`],
    ["uppercase hex", (a: string) => `${a.toUpperCase()}.localhost`],
    ["a port", (a: string) => `${a}.localhost:${port}`],
    ["a trailing dot", (a: string) => `${a}.localhost.`],
  ])("reaches the agent with %s", async (_what, host) => {
    const h = host(peer.identity.hexAddress);
    const answer = await fetchVia(port, h, "/");
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe(`local saw host=${h}`);
  });

  it.each([
    ["a 0x prefix", (a: string) => `0x${a}.localhost`],
    ["a punycode label", (a: string) => `xn--${a.slice(4)}.localhost`],
    ["an extra label", (a: string) => `www.${a}.localhost`],
  ])("answers 400 invalid_subdomain for %s", async (_what, host) => {
    const answer = await fetchVia(port, host(peer.identity.hexAddress), "/");
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body.toString())).toEqual({ error: "invalid_subdomain" });
  });

  it("answers 502 agent_offline for a well-formed address with no tunnel", async () => {
    const answer = await fetchVia(port, `${"ab".repeat(20)}.localhost`, "/");
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body.toString())).toEqual({ error: "agent_offline" });
  });

  it("serves the relay's own endpoints on an IPv6 literal or bare IP Host", async () => {
    for (const host of [`[::1]:${port}`, `127.0.0.1:${port}`, "localhost"]) {
      const answer = await fetchVia(port, host, "/health");
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body.toString()).status).toBe("ok");
    }
  });
});
