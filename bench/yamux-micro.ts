/**
 * yamux micro-benchmark: our Session against `@libp2p/yamux` 8.0.3, both ends of each pair the same
 * library, over the same in-memory pipe (test/yamux/libp2p-pipe.ts). No sockets, no HTTP: this
 * measures the muxers alone.
 *
 *   npx tsx bench/yamux-micro.ts [--runs 5] [--mib 64] [--exchanges 10000] [--concurrency 100]
 *     [--only ours|libp2p] [--scenario throughput|exchanges] [--chunk bytes]
 *     [--window bytes] [--message bytes]   (the last two set our Session's maxStreamWindow, maxMessageBytes)
 *
 * To profile one side: node --cpu-prof --import tsx bench/yamux-micro.ts --only ours
 *
 * Scenarios: one stream carrying `--mib` MiB one way; `--exchanges` small request/response
 * exchanges (100 B each way, each on a new stream, `--concurrency` at a time). Prints the median of
 * `--runs` runs after one warm-up run, with CPU time per MiB or per exchange.
 */
import { randomBytes } from "node:crypto";
import type { Stream, StreamMuxer } from "@libp2p/interface";
import type { Session } from "../src/yamux/session.ts";
import type { StreamHandler, YamuxStream } from "../src/yamux/stream.ts";
import { join, libp2pEnd, ourRawEnd } from "../test/yamux/libp2p-pipe.ts";
import { flags } from "./lib/args.ts";

const args = flags("yamux-micro");
const RUNS = args.number("runs", 5, true);
const MIB = args.number("mib", 64);
const EXCHANGES = args.number("exchanges", 10_000, true);
const CONCURRENCY = args.number("concurrency", 100, true);
const ONLY = args.text("only");
const SCENARIO = args.text("scenario");
const CHUNK = args.number("chunk", 64 * 1024, true);
/** Our Session's settings; defaults unless --window or --message are given. */
const CFG = {
  ...(args.text("window") ? { maxStreamWindow: args.number("window", 0, true) } : {}),
  ...(args.text("message") ? { maxMessageBytes: args.number("message", 0, true) } : {}),
};
const SMALL = 100;

interface Sample {
  ms: number;
  cpuMs: number;
}

async function measure(fn: () => Promise<void>): Promise<Sample> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  await fn();
  const ms = performance.now() - t;
  const used = process.cpuUsage(cpu);
  return { ms, cpuMs: (used.user + used.system) / 1000 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const bytesOf = (d: Uint8Array | { subarray(): Uint8Array }) => (d instanceof Uint8Array ? d : d.subarray());

// --- our Session -------------------------------------------------------------------------------

function ourPair(): { client: Session; server: Session } {
  const { a, b } = join(ourRawEnd("opener", CFG), ourRawEnd("acceptor", CFG));
  return { client: a, server: b };
}

/** A handler that only counts (and ignores drain); `end` and `close` as given. */
function counter(onEnd: (n: number) => void, onClose: (err?: Error) => void = () => {}): StreamHandler {
  let n = 0;
  return {
    data: (c) => {
      n += c.byteLength;
    },
    end: () => onEnd(n),
    drain() {},
    close: onClose,
  };
}

async function oursThroughput(payload: Buffer): Promise<void> {
  const { client, server } = ourPair();
  const received = new Promise<number>((resolve) => {
    server.once("stream", (s: YamuxStream) => {
      s.attach(
        counter((n) => {
          s.end();
          resolve(n);
        }),
      );
    });
  });
  const s = client.openStream();
  let drained: (() => void) | undefined;
  s.attach({ ...counter(() => {}), drain: () => drained?.() });
  for (let off = 0; off < payload.byteLength; off += CHUNK) {
    if (!s.write(payload.subarray(off, off + CHUNK)))
      await new Promise<void>((r) => {
        drained = r;
      });
  }
  s.end();
  const n = await received;
  if (n !== payload.byteLength) throw new Error(`ours: got ${n} bytes`);
  client.close();
  server.close();
}

async function oursExchanges(request: Buffer, response: Buffer): Promise<void> {
  const { client, server } = ourPair();
  server.on("stream", (s: YamuxStream) => s.attach(counter(() => s.end(response))));
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const s = client.openStream();
      s.attach(
        counter(
          (n) => (n === response.byteLength ? resolve() : reject(new Error(`ours: got ${n}`))),
          (err) => err && reject(err),
        ),
      );
      s.end(request);
    });
  await runConcurrently(one);
  client.close();
  server.close();
}

// --- @libp2p/yamux -------------------------------------------------------------------------------

function libp2pPair(): { client: StreamMuxer; server: StreamMuxer } {
  // Library defaults, keepalive included: its first ping measures the RTT that lets windows grow.
  const { a, b } = join(
    libp2pEnd("outbound", { enableKeepAlive: true }),
    libp2pEnd("inbound", { enableKeepAlive: true }),
  );
  return { client: a, server: b };
}

function libp2pClose(...muxers: StreamMuxer[]): void {
  for (const m of muxers) m.abort(new Error("bench over"));
}

async function libp2pThroughput(payload: Buffer): Promise<void> {
  const { client, server } = libp2pPair();
  const received = new Promise<number>((resolve) => {
    server.addEventListener("stream", (evt) => {
      const s = evt.detail;
      let n = 0;
      s.addEventListener("message", (m) => {
        n += m.data.byteLength;
      });
      s.addEventListener("remoteCloseWrite", () => resolve(n));
    });
  });
  const s = await client.createStream();
  for (let off = 0; off < payload.byteLength; off += CHUNK) {
    if (!s.send(payload.subarray(off, off + CHUNK))) await s.onDrain();
  }
  await s.close();
  const n = await received;
  if (n !== payload.byteLength) throw new Error(`libp2p: got ${n} bytes`);
  libp2pClose(client, server);
}

async function libp2pExchanges(request: Buffer, response: Buffer): Promise<void> {
  const { client, server } = libp2pPair();
  server.addEventListener("stream", (evt) => {
    const s = evt.detail;
    s.addEventListener("message", () => {});
    s.addEventListener("remoteCloseWrite", () => {
      s.send(response);
      void s.close();
    });
  });
  const one = async () => {
    const s: Stream = await client.createStream();
    const done = (async () => {
      let n = 0;
      for await (const c of s) n += bytesOf(c).byteLength;
      if (n !== response.byteLength) throw new Error(`libp2p: got ${n}`);
    })();
    s.send(request);
    await s.close();
    await done;
  };
  await runConcurrently(one);
  libp2pClose(client, server);
}

/** Runs EXCHANGES calls of `one`, CONCURRENCY at a time. */
async function runConcurrently(one: () => Promise<void>): Promise<void> {
  let started = 0;
  const worker = async () => {
    while (started < EXCHANGES) {
      started++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

// --- main --------------------------------------------------------------------------------------

interface Lib {
  name: string;
  throughput: () => Promise<void>;
  exchanges: () => Promise<void>;
  samples: { throughput: Sample[]; exchanges: Sample[] };
}

async function main(): Promise<void> {
  const payload = randomBytes(MIB * 1024 * 1024);
  const request = randomBytes(SMALL);
  const response = randomBytes(SMALL);
  console.log(
    `yamux micro-benchmark: node ${process.version}, ${RUNS} runs (median), ${MIB} MiB one stream, ` +
      `${EXCHANGES} exchanges of ${SMALL} B at concurrency ${CONCURRENCY}; the libraries take turns`,
  );
  const libs: Lib[] = [
    {
      name: "ours (src/yamux)",
      throughput: () => oursThroughput(payload),
      exchanges: () => oursExchanges(request, response),
      samples: { throughput: [], exchanges: [] },
    },
    {
      name: "@libp2p/yamux 8.0.3",
      throughput: () => libp2pThroughput(payload),
      exchanges: () => libp2pExchanges(request, response),
      samples: { throughput: [], exchanges: [] },
    },
  ].filter((l) => !ONLY || l.name.includes(ONLY));
  const scenarios = (["throughput", "exchanges"] as const).filter((s) => !SCENARIO || s === SCENARIO);
  // Turns alternate between the libraries, so both see the same machine load; one warm-up each.
  for (let run = -1; run < RUNS; run++) {
    for (const sc of scenarios) {
      for (const lib of libs) {
        const sample = await measure(lib[sc]);
        if (run >= 0) lib.samples[sc].push(sample);
      }
    }
  }
  const rows = libs.map((lib) => {
    const t = lib.samples.throughput;
    const e = lib.samples.exchanges;
    for (const sc of scenarios)
      process.stderr.write(
        `  ${lib.name} ${sc}: ${lib.samples[sc].map((x) => x.ms.toFixed(0)).join(", ")} ms\n`,
      );
    const cell = (xs: Sample[], f: (x: Sample[]) => number, digits: number) =>
      xs.length === 0 ? "-" : f(xs).toFixed(digits);
    return [
      lib.name,
      cell(t, (xs) => (MIB * 1.048576) / (median(xs.map((x) => x.ms)) / 1000), 0),
      cell(t, (xs) => median(xs.map((x) => x.cpuMs)) / MIB, 2),
      cell(e, (xs) => EXCHANGES / (median(xs.map((x) => x.ms)) / 1000), 0),
      cell(e, (xs) => (median(xs.map((x) => x.cpuMs)) * 1000) / EXCHANGES, 1),
    ];
  });
  const head = ["muxer", "MB/s (1 stream)", "CPU ms/MiB", "exchanges/s", "CPU µs/exchange"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of rows) console.log(line(r));
}

await main();
