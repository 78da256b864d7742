/**
 * The local server every scenario targets, directly (baseline) and through the tunnel, in its own
 * process. Prints `listening <port>` once ready; exits when its stdin closes (the bench ended).
 *   GET  /small             1 KiB body
 *   GET  /download?bytes=N  N bytes, written with backpressure
 *   POST /upload            reads the body, answers {"bytes":N}
 *   GET  /hold?ms=N         answers after N ms; counts how many are held at once
 *   GET  /stats             {"peakHeld":N} since the last /stats, then resets it
 *   GET  /head              the request's header fields as received, [name, value, ...] in JSON
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

const SMALL = Buffer.alloc(1024, "a");
const CHUNK = Buffer.alloc(256 * 1024, "b");
let held = 0;
let peakHeld = 0;

function download(res: ServerResponse, total: number): void {
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": total });
  let left = total;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.byteLength);
      left -= n;
      const more = res.write(n === CHUNK.byteLength ? CHUNK : CHUNK.subarray(0, n));
      if (!more && left > 0) return void res.once("drain", pump);
    }
    res.end();
  };
  pump();
}

const server = createServer({ keepAlive: true, noDelay: true }, (req, res) => {
  const url = new URL(req.url ?? "/", "http://local");
  switch (url.pathname) {
    case "/small":
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": SMALL.byteLength });
      return void res.end(SMALL);
    case "/download":
      return download(res, Number(url.searchParams.get("bytes") ?? 0));
    case "/upload": {
      let bytes = 0;
      req.on("data", (c: Buffer) => {
        bytes += c.byteLength;
      });
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ bytes }));
      });
      return;
    }
    case "/hold": {
      held++;
      peakHeld = Math.max(peakHeld, held);
      setTimeout(
        () => {
          held--;
          res.writeHead(200, { "content-type": "text/plain", "content-length": 2 });
          res.end("ok");
        },
        Number(url.searchParams.get("ms") ?? 1000),
      );
      return;
    }
    case "/stats":
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ peakHeld }));
      peakHeld = held;
      return;
    case "/head":
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(JSON.stringify(req.rawHeaders));
    default:
      res.writeHead(404, { "content-length": 0 });
      res.end();
  }
});

// A listen queue as long as the kernel allows (net.core.somaxconn), so bursts of connections from
// the peer are not dropped here: the bench measures the tunnel, not this server's accept queue.
server.listen({ port: 0, host: "127.0.0.1", backlog: 65535 }, () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();
process.once("SIGTERM", () => process.exit(0));
