/** Setting values as text, and how the three sources combine (in process; the CLI has e2e tests). */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, relayDefaults } from "../../src/relay/config.ts";
import { loadRelayConfig } from "../../src/relay/config-load.ts";
import { parseCount, parseDuration, parseList, parseListen, parseSize } from "../../src/relay/settings.ts";
import { tempHome } from "../helpers/cli.ts";

describe("value syntax", () => {
  it("reads durations, sizes, counts, addresses and lists", () => {
    expect([parseDuration("500ms"), parseDuration("10s"), parseDuration("5m"), parseDuration("1h")]).toEqual([
      500, 10_000, 300_000, 3_600_000,
    ]);
    expect([parseDuration("250"), parseDuration(1500), parseDuration("1.5s")]).toEqual([250, 1500, 1500]);
    expect([
      parseSize("64KiB"),
      parseSize("10MiB"),
      parseSize("1g"),
      parseSize("512"),
      parseSize("off"),
    ]).toEqual([65_536, 10_485_760, 1_073_741_824, 512, 0]);
    expect([parseCount("30"), parseCount(0), parseCount("off")]).toEqual([30, 0, 0]);
    expect(parseListen("0.0.0.0:443")).toEqual({ host: "0.0.0.0", port: 443 });
    expect(parseListen("[::1]:8080")).toEqual({ host: "::1", port: 8080 });
    expect(parseListen("9000")).toEqual({ host: "127.0.0.1", port: 9000 });
    expect(parseList(["a, b", "c"])).toEqual(["a", "b", "c"]);
    expect(parseList("x,,y ")).toEqual(["x", "y"]);
  });

  it("refuses malformed values", () => {
    for (const bad of ["10 sec", "-1s", "s", ""]) expect(() => parseDuration(bad)).toThrow(/duration/);
    for (const bad of ["64 KB!", "1.5MiB", "big"]) expect(() => parseSize(bad)).toThrow(/size/);
    for (const bad of ["1.5", "-3", "many"]) expect(() => parseCount(bad)).toThrow(/whole number/);
    for (const bad of ["host", "host:99999", ":80"]) expect(() => parseListen(bad)).toThrow();
  });
});

describe("loadRelayConfig", () => {
  it("applies defaults, then the file, then the environment, then flags", () => {
    const file = join(tempHome(), "relay.json");
    writeFileSync(
      file,
      JSON.stringify({
        "max-streams": 10,
        "idle-timeout": "1m",
        origin: ["wss://a.example"],
        "request-rate": 100,
      }),
    );
    const c = loadRelayConfig({
      flags: { config: file, "max-streams": "30" },
      env: {
        AGENT_RELAY_MAX_STREAMS: "20",
        AGENT_RELAY_IDLE_TIMEOUT: "2m",
        AGENT_RELAY_TRUST_PROXY: "10.0.0.1,10.1.0.0/16",
      },
    });
    expect(c.maxStreamsPerTunnel).toBe(30);
    expect(c.idleTimeoutMs).toBe(120_000);
    expect(c.requestRatePerMin).toBe(100);
    expect(c.extraOrigins).toEqual(["wss://a.example"]);
    expect(c.trustProxy).toEqual(["10.0.0.1", "10.1.0.0/16"]);
    expect(c.firstByteTimeoutMs).toBe(relayDefaults.firstByteTimeoutMs);
    // The CLI serves metrics on loopback by default; a taken default port is not fatal.
    expect(c.metricsListen).toEqual({ host: "127.0.0.1", port: 9464, optional: true });
  });

  it("turns metrics off, and makes an explicit metrics address strict", () => {
    expect(loadRelayConfig({ flags: { "metrics-listen": "off" }, env: {} }).metricsListen).toBeUndefined();
    expect(
      loadRelayConfig({ flags: {}, env: { AGENT_RELAY_METRICS_LISTEN: "127.0.0.1:9100" } }).metricsListen,
    ).toEqual({ host: "127.0.0.1", port: 9100 });
  });

  it("names the setting and its source in every error", () => {
    const cases: Array<[Parameters<typeof loadRelayConfig>[0], string]> = [
      [{ flags: { "max-body-size": "lots" }, env: {} }, "max-body-size (from --max-body-size)"],
      [{ flags: {}, env: { AGENT_RELAY_MAX_STREAMS: "0" } }, "max-streams (from AGENT_RELAY_MAX_STREAMS)"],
      [{ flags: { "log-level": "loud" }, env: {} }, "log-level (from --log-level)"],
      [
        { flags: { "rate-limit-exempt": "not-an-ip" }, env: {} },
        "rate-limit-exempt (from --rate-limit-exempt)",
      ],
      [{ flags: { config: "/nonexistent/relay.json" }, env: {} }, "config"],
    ];
    for (const [sources, setting] of cases) {
      let err: unknown;
      try {
        loadRelayConfig(sources);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).setting).toBe(setting);
      expect((err as ConfigError).message).not.toContain("\n");
    }
  });
});
