/** Helpers for the relay tests: a relay with its limits on for loopback, metrics, raw sockets. */
import { request } from "node:http";
import { connect } from "node:net";
import type { RelayConfig } from "../../src/relay/config.ts";
import type { Relay } from "../../src/relay/server.ts";
import { startRelay } from "../helpers/harness.ts";

/** A relay whose limits apply to 127.0.0.1 too, with /metrics on a free loopback port. */
export function startStrictRelay(config: Partial<RelayConfig> = {}) {
  return startRelay({ rateLimitExempt: [], metricsListen: { host: "127.0.0.1", port: 0 }, ...config });
}

/** GET on the relay's metrics listener. */
export function getOps(relay: Relay, path: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: relay.metricsPort(), path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body, type: String(res.headers["content-type"]) }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

/** The value of one sample in Prometheus text, such as `agent_relay_errors_total{code="x"}`; 0 if absent. */
export function sample(text: string, series: string): number {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return 0;
}

export async function metric(relay: Relay, series: string): Promise<number> {
  return sample((await getOps(relay, "/metrics")).body, series);
}

/** Writes `text` on a fresh TCP connection and resolves with everything read until the relay closes it. */
export function rawExchange(port: number, text: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    let out = "";
    socket.setEncoding("latin1");
    socket.on("data", (c: string) => {
      out += c;
    });
    socket.on("close", () => resolve(out));
    socket.on("error", reject);
    socket.write(text);
  });
}

/** Polls `probe` every 10 ms until it holds or `deadlineMs` passes; returns whether it held. */
export async function eventually(
  deadlineMs: number,
  probe: () => boolean | Promise<boolean>,
): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < deadlineMs) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return probe();
}

/** The JSON error code in a body, or undefined. */
export function errorCode(body: Buffer | string): string | undefined {
  try {
    return JSON.parse(body.toString()).error;
  } catch {
    return undefined;
  }
}
