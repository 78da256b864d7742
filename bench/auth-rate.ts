/**
 * AUTH verifications per second on one core: the relay's whole check (`verifyAuth`: nonce, origin,
 * clock, the EIP-191 digest, the address hash and the signature) over distinct valid AUTH messages,
 * with the public key sent (ECDSA verify) and without it (key recovery). One single-threaded process
 * per backend: libsecp256k1 as loaded, then the `secp256k1` package's own pure-JS fallback, forced
 * in a child process by making its native binding fail to load, as on a platform without a prebuild.
 *
 *   npx tsx bench/auth-rate.ts [--runs 5] [--seconds 2] [--messages 128] [--native-only]
 *
 * Prints a Markdown table: medians of the runs, per second of wall-clock time and per CPU-second
 * of the process (user + system), with the lowest and highest run in brackets.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import Module from "node:module";
import { fileURLToPath } from "node:url";
import { flags } from "./lib/args.ts";

const args = flags("auth-rate");
const RUNS = args.number("runs", 5, true);
const SECONDS = args.number("seconds", 2);
const MESSAGES = args.number("messages", 128, true);
const CHILD = args.has("child-js");

interface Row {
  auth: string;
  backend: string;
  wall: number[];
  cpu: number[];
}

if (CHILD) {
  // Make `require("./bindings")` inside the secp256k1 package throw, before anything loads it.
  const mod = Module as unknown as {
    _load: (request: string, parent: { filename?: string } | null) => unknown;
  };
  const load = mod._load;
  mod._load = function (this: unknown, request, parent, ...rest: unknown[]) {
    if (request === "./bindings" && /[\\/]secp256k1[\\/]/.test(parent?.filename ?? "")) {
      throw new Error("native binding disabled for this run");
    }
    return (load as (...a: unknown[]) => unknown).call(this, request, parent, ...rest);
  } as typeof mod._load;
}

const { AgentIdentity } = await import("../src/peer/identity.ts");
const { buildAuthMessage } = await import("../src/protocol/auth-message.ts");
const { verifyAuth } = await import("../src/protocol/auth-verify.ts");
const { secp256k1Backend } = await import("../src/protocol/secp256k1.ts");
type AuthRequest = import("../src/protocol/auth-codec.ts").AuthRequest;
type VerifyContext = import("../src/protocol/auth-verify.ts").VerifyContext;

const ORIGIN = "wss://relay.example.com";
const NOW = Math.floor(Date.now() / 1000);

/** `count` distinct valid logins, each with the context of the relay that issued its nonce. */
function logins(count: number, withKey: boolean): Array<{ req: AuthRequest; ctx: VerifyContext }> {
  const out: Array<{ req: AuthRequest; ctx: VerifyContext }> = [];
  const allowedOrigins = new Set([ORIGIN]);
  for (let i = 0; i < count; i++) {
    const id = AgentIdentity.generate();
    const nonce = new Uint8Array(randomBytes(32));
    const text = buildAuthMessage({ origin: ORIGIN, address: id.address, nonce, timestamp: NOW });
    const req: AuthRequest = {
      address: id.address,
      nonce,
      timestamp: NOW,
      signature: id.signMessage(text),
      origin: ORIGIN,
      ...(withKey ? { publicKey: id.publicKey } : {}),
    };
    out.push({ req, ctx: { expectedNonce: nonce, allowedOrigins, nowS: NOW } });
  }
  return out;
}

/** One run: verifies in a loop for `seconds`; returns verifications per wall-second and per CPU-second. */
function run(set: ReturnType<typeof logins>, seconds: number): { wall: number; cpu: number } {
  let done = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  while (performance.now() < until) {
    for (let i = 0; i < 16; i++) {
      const { req, ctx } = set[done % set.length]!;
      if (!verifyAuth(req, ctx).ok) throw new Error(`a valid AUTH was refused (${secp256k1Backend})`);
      done++;
    }
  }
  const wallS = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu0);
  return { wall: done / wallS, cpu: done / ((used.user + used.system) / 1e6) };
}

function measure(): Row[] {
  const rows: Row[] = [];
  for (const withKey of [true, false]) {
    const set = logins(MESSAGES, withKey);
    run(set, Math.min(0.5, SECONDS)); // warm-up: JIT, caches
    const row: Row = {
      auth: withKey ? "with public key (verify)" : "without (recovery)",
      backend: secp256k1Backend === "native" ? "libsecp256k1 (native)" : "JS fallback (elliptic)",
      wall: [],
      cpu: [],
    };
    for (let r = 0; r < RUNS; r++) {
      const x = run(set, SECONDS);
      row.wall.push(x.wall);
      row.cpu.push(x.cpu);
    }
    rows.push(row);
  }
  return rows;
}

if (CHILD) {
  process.stdout.write(JSON.stringify(measure()));
} else {
  const rows = measure();
  if (!args.has("native-only")) {
    const self = fileURLToPath(import.meta.url);
    const child = spawnSync(process.execPath, [...process.execArgv, self, ...args.argv, "--child-js"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    if (child.status !== 0) throw new Error(`the JS-fallback run failed (exit ${child.status})`);
    rows.push(...(JSON.parse(child.stdout) as Row[]));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const fmt = (xs: number[]) =>
    `${Math.round(median(xs)).toLocaleString("en-US")} (${Math.round(Math.min(...xs)).toLocaleString("en-US")}–${Math.round(Math.max(...xs)).toLocaleString("en-US")})`;
  console.log(
    `AUTH verifications per second, one core: median of ${RUNS} runs of ${SECONDS} s, ${MESSAGES} distinct messages, Node ${process.version}\n`,
  );
  console.log("| AUTH | backend | per second (wall) | per CPU-second |");
  console.log("| --- | --- | --- | --- |");
  for (const r of rows) console.log(`| ${r.auth} | ${r.backend} | ${fmt(r.wall)} | ${fmt(r.cpu)} |`);
}
