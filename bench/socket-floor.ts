/**
 * The floor under a Node.js process on the request path: what one 1 KiB request and answer on a
 * keep-alive TCP connection cost a Node server that does nothing else, with Node's HTTP server and
 * with a bare `net` socket that answers each head with canned bytes (no parsing beyond finding the
 * blank line). The relay and the peer each sit on such a socket for every request, so this is the
 * least either can cost per request, before any proxying.
 *
 *   npx tsx bench/socket-floor.ts [--runs 5] [--connections 16] [--seconds 3]
 *
 * Each server runs in its own process; autocannon (bench/load/cannon.ts) drives it from this one.
 * Prints, per server, the median over `--runs` alternating runs (after one warm-up run each) of
 * req/s and the server's CPU time (user + system, from /proc) per request.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer as createHttpServer } from "node:http";
import { type AddressInfo, createServer as createNetServer, type Server } from "node:net";
import { fileURLToPath } from "node:url";
import { flags } from "./lib/args.ts";
import { cpuSeconds } from "./lib/proc-stats.ts";
import { summarize } from "./lib/stats.ts";
import { cannon } from "./load/cannon.ts";

type Kind = "node:http" | "net";
const KINDS: Kind[] = ["node:http", "net"];

const BODY = Buffer.alloc(1024, "a");
const FIELDS = ["content-type", "application/octet-stream", "content-length", String(BODY.byteLength)];
let head = "HTTP/1.1 200 OK\r\n";
for (let i = 0; i < FIELDS.length; i += 2) head += `${FIELDS[i]}: ${FIELDS[i + 1]}\r\n`;
const ANSWER = Buffer.concat([Buffer.from(`${head}\r\n`, "latin1"), BODY]);

function serve(kind: Kind): Server {
  if (kind === "node:http")
    return createHttpServer({ keepAlive: true, noDelay: true }, (_req, res) => {
      res.writeHead(200, FIELDS);
      res.end(BODY);
    });
  return createNetServer({ noDelay: true }, (socket) => {
    let held: Buffer | undefined;
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: Buffer) => {
      const buf = held ? Buffer.concat([held, chunk]) : chunk;
      let from = 0;
      let answers = 0;
      for (let end = buf.indexOf("\r\n\r\n", from); end !== -1; end = buf.indexOf("\r\n\r\n", from)) {
        answers++;
        from = end + 4;
      }
      held = from < buf.byteLength ? buf.subarray(from) : undefined;
      if (answers === 1) socket.write(ANSWER);
      else if (answers > 1) socket.write(Buffer.concat(Array.from({ length: answers }, () => ANSWER)));
    });
  });
}

const args = flags("socket-floor");

if (args.argv[0] === "--serve") {
  const server = serve(args.argv[1] as Kind);
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
  });
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
} else {
  const runs = args.number("runs", 5, true);
  const connections = args.number("connections", 16, true);
  const seconds = args.number("seconds", 3);
  const start = (kind: Kind): Promise<{ child: ChildProcess; port: number }> =>
    new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), "--serve", kind],
        {
          stdio: ["pipe", "pipe", "inherit"],
        },
      );
      child.once("error", reject);
      child.stdout!.once("data", (d: Buffer) => resolve({ child, port: Number(String(d).trim()) }));
    });
  const servers = await Promise.all(KINDS.map(start));
  const results = new Map<Kind, { rate: number[]; cpu: number[] }>(
    KINDS.map((k) => [k, { rate: [], cpu: [] }]),
  );
  const once = async (k: number, durationS: number) => {
    const { child, port } = servers[k]!;
    const before = cpuSeconds(child.pid!);
    const r = await cannon({ url: `http://127.0.0.1:${port}/small`, connections, durationS });
    if (r.errors > 0) throw new Error(`${KINDS[k]}: ${r.errors} errors`);
    return { rate: r.reqPerS, cpuUs: ((cpuSeconds(child.pid!) - before) / r.requests) * 1e6 };
  };
  for (let k = 0; k < KINDS.length; k++) await once(k, 1);
  for (let run = 0; run < runs; run++)
    for (const k of run % 2 === 0 ? [0, 1] : [1, 0]) {
      const r = await once(k, seconds);
      results.get(KINDS[k]!)!.rate.push(r.rate);
      results.get(KINDS[k]!)!.cpu.push(r.cpuUs);
    }
  for (const s of servers) s.child.stdin!.end();
  console.log(`${connections} connections, ${seconds} s per run, median of ${runs} runs`);
  for (const kind of KINDS) {
    const r = results.get(kind)!;
    const rate = summarize(r.rate).median;
    const cpu = summarize(r.cpu).median;
    console.log(
      `${kind.padEnd(10)} ${Math.round(rate).toLocaleString("en")} req/s, ${cpu.toFixed(1)} us CPU per request`,
    );
  }
}
