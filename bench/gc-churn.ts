/**
 * GC cost of a long-lived container whose entries churn, as a registry of in-flight requests does.
 * One child process per container kind, each with the container tenured first (two full GCs) and
 * then `--inflight` entries alive at a time, one removed and one added per step, each step also
 * allocating about `--garbage` bytes of short-lived heap objects (not ArrayBuffers, whose off-heap
 * memory drives full GCs of its own). Counts major and minor GCs and GC time.
 *
 *   npx tsx bench/gc-churn.ts [--seconds 3] [--inflight 128] [--garbage 4096] [--only map|set|object|slots]
 *
 * Why: when V8 rehashes the table behind a Map or Set, the old table keeps its entries and a link
 * to the new one. An old table in old space is a root for every scavenge until the next full GC,
 * so entries that died young are kept and promoted; once one table is old the chain sustains itself.
 * The `slots` kind is src/util/slots.ts, what the data path uses instead.
 */
import { spawn } from "node:child_process";
import { constants, PerformanceObserver } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Slots } from "../src/util/slots.ts";
import { flags } from "./lib/args.ts";

const KINDS = ["map", "set", "object", "slots"] as const;
type Kind = (typeof KINDS)[number];

const args = flags("gc-churn");
const SECONDS = args.number("seconds", 3);
const INFLIGHT = args.number("inflight", 128, true);
const GARBAGE = args.number("garbage", 4096, true);

interface Entry {
  id: number;
  slot: number;
  body: number[];
  parts: string[];
}

interface Container {
  add(e: Entry): void;
  remove(e: Entry): void;
}

function container(kind: Kind): Container {
  switch (kind) {
    case "map": {
      const m = new Map<number, Entry>();
      return { add: (e) => m.set(e.id, e), remove: (e) => m.delete(e.id) };
    }
    case "set": {
      const s = new Set<Entry>();
      return { add: (e) => s.add(e), remove: (e) => s.delete(e) };
    }
    case "object": {
      const o: Record<number, Entry> = Object.create(null);
      return {
        add: (e) => {
          o[e.id * 2 + 1] = e;
        },
        remove: (e) => {
          delete o[e.id * 2 + 1];
        },
      };
    }
    case "slots": {
      const s = new Slots<Entry>();
      return { add: (e) => s.add(e), remove: (e) => s.remove(e) };
    }
  }
}

interface Result {
  kind: Kind;
  steps: number;
  major: number;
  minor: number;
  gcMs: number;
}

async function child(kind: Kind): Promise<Result> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run the child with --expose-gc");
  const c = container(kind);
  const ring: Entry[] = [];
  let id = 0;
  const make = (): Entry => ({
    id: id++,
    slot: -1,
    body: new Array<number>(32).fill(0),
    parts: [`GET /${id} HTTP/1.1`, "host: a"],
  });
  for (let i = 0; i < INFLIGHT; i++) {
    const e = make();
    ring.push(e);
    c.add(e);
  }
  gc();
  gc();

  let major = 0;
  let minor = 0;
  let gcMs = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const k = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (k === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
      else if (k === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
      gcMs += e.duration;
    }
  });
  obs.observe({ entryTypes: ["gc"] });

  let steps = 0;
  let sink = 0;
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 256; i++, steps++) {
      const at = steps % INFLIGHT;
      c.remove(ring[at]!);
      const e = make();
      ring[at] = e;
      c.add(e);
      sink += new Array<number>(GARBAGE >> 3).fill(steps).length;
    }
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  if (sink < 0) console.log(sink);
  return { kind, steps, major, minor, gcMs };
}

function runChild(kind: Kind): Promise<Result> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      [
        "--expose-gc",
        "--import",
        "tsx",
        self,
        "--child",
        kind,
        "--seconds",
        String(SECONDS),
        "--inflight",
        String(INFLIGHT),
        "--garbage",
        String(GARBAGE),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.on("error", reject);
    p.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out) as Result) : reject(new Error(`${kind}: exit ${code}`)),
    );
  });
}

const childKind = args.text("child");
if (childKind !== undefined) {
  process.stdout.write(JSON.stringify(await child(childKind as Kind)));
} else {
  const only = args.text("only");
  if (only !== undefined && !KINDS.includes(only as Kind)) {
    process.stderr.write(`gc-churn: --only takes one of ${KINDS.join(", ")} (got "${only}")\n`);
    process.exit(2);
  }
  console.log(`${SECONDS} s, ${INFLIGHT} in flight, ${GARBAGE} B garbage per step`);
  console.log("kind    | steps/s | major GCs | minor GCs | GC ms");
  console.log("--------|---------|-----------|-----------|------");
  for (const kind of only ? [only as Kind] : KINDS) {
    const r = await runChild(kind);
    console.log(
      `${kind.padEnd(7)} | ${String(Math.round(r.steps / SECONDS)).padStart(7)} | ${String(r.major).padStart(9)} | ${String(r.minor).padStart(9)} | ${r.gcMs.toFixed(0)}`,
    );
  }
}
