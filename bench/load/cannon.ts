/**
 * HTTP load from autocannon at a fixed number of keep-alive connections. Latency is recorded per
 * response from autocannon's `response` event (sub-millisecond), since its own histogram keeps whole
 * milliseconds only.
 */
import { createRequire } from "node:module";
import { percentile } from "../lib/stats.ts";

interface AutocannonRequest {
  headers?: Record<string, string>;
  setupRequest?: (req: { headers?: Record<string, string> }) => unknown;
}

interface AutocannonResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  totalBytes: number;
}

interface AutocannonInstance {
  on(event: "response", fn: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  on(event: "reqError", fn: (err: Error & { code?: string }) => void): void;
}

type Autocannon = (
  opts: Record<string, unknown>,
  cb: (err: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance;

const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

export interface CannonJob {
  url: string;
  /** Host header for every request, or one picked at random per request from `hosts`. */
  host?: string;
  hosts?: string[];
  connections: number;
  durationS: number;
}

export interface CannonResult {
  requests: number;
  reqPerS: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Socket errors, timeouts and non-2xx answers. */
  errors: number;
  /** Count per non-2xx status or error code. */
  failures: Record<string, number>;
  elapsedS: number;
}

export function cannon(job: CannonJob): Promise<CannonResult> {
  const hosts = job.hosts;
  const requests: AutocannonRequest[] | undefined = hosts
    ? [
        {
          setupRequest: (req) => {
            req.headers = { ...req.headers, host: hosts[Math.floor(Math.random() * hosts.length)]! };
            return req;
          },
        },
      ]
    : undefined;
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  const fail = (key: string) => {
    failures[key] = (failures[key] ?? 0) + 1;
  };
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: job.url,
        connections: job.connections,
        duration: job.durationS,
        timeout: 30,
        ...(job.host ? { headers: { host: job.host } } : {}),
        ...(requests ? { requests } : {}),
      },
      (err, result) => {
        if (err) return reject(err);
        const elapsedS = (performance.now() - started) / 1000;
        const sorted = Float64Array.from(latencies).sort();
        resolve({
          requests: sorted.length,
          reqPerS: sorted.length / elapsedS,
          p50Ms: percentile(sorted, 50),
          p99Ms: percentile(sorted, 99),
          maxMs: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
          errors: result.errors + result.timeouts + result.non2xx,
          failures,
          elapsedS,
        });
      },
    );
    instance.on("response", (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms);
      else fail(String(status));
    });
    instance.on("reqError", (err) => fail(err.code ?? err.message));
  });
}
