/** Plain `node:http` requests for the dedicated clients (transfers, bursts, sweeps). */
import { type Agent, request } from "node:http";

export interface Target {
  port: number;
  /** Host header; the default is 127.0.0.1:<port>. */
  host?: string;
}

export interface Outcome {
  status: number;
  bytes: number;
  /** Socket error code when the request failed before an answer. */
  error?: string;
  /** The relay's or peer's error code (X-Agent-Relay-Error) on an answer they generated. */
  relayError?: string;
}

/** Sends one request, reads and discards the answer, and counts its bytes. Never rejects. */
export function send(
  t: Target,
  path: string,
  opts: {
    method?: string;
    uploadBytes?: number;
    agent?: Agent | false;
    timeoutMs?: number;
  } = {},
): Promise<Outcome> {
  return new Promise((resolve) => {
    const upload = opts.uploadBytes ?? 0;
    const req = request(
      {
        host: "127.0.0.1",
        port: t.port,
        path,
        method: opts.method ?? "GET",
        agent: opts.agent ?? false,
        headers: {
          host: t.host ?? `127.0.0.1:${t.port}`,
          ...(opts.method === "POST" ? { "content-length": upload } : {}),
        },
      },
      (res) => {
        let bytes = 0;
        res.on("data", (c: Buffer) => {
          bytes += c.byteLength;
        });
        res.on("end", () => {
          const relayError = res.headers["x-agent-relay-error"];
          resolve({
            status: res.statusCode ?? 0,
            bytes,
            ...(typeof relayError === "string" ? { relayError } : {}),
          });
        });
        res.on("error", (err) => resolve({ status: 0, bytes, error: errorCode(err) }));
      },
    );
    req.on("error", (err) => resolve({ status: 0, bytes: 0, error: errorCode(err) }));
    if (opts.timeoutMs) req.setTimeout(opts.timeoutMs, () => req.destroy(new Error("timeout")));
    if (upload === 0) return void req.end();
    writeBody(req, upload);
  });
}

const CHUNK = Buffer.alloc(256 * 1024, "u");

function writeBody(req: import("node:http").ClientRequest, total: number): void {
  let left = total;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.byteLength);
      left -= n;
      const more = req.write(n === CHUNK.byteLength ? CHUNK : CHUNK.subarray(0, n));
      if (!more && left > 0) return void req.once("drain", pump);
    }
    req.end();
  };
  pump();
}

function errorCode(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? err.message;
}
