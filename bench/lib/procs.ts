/**
 * Child processes of a bench run: the relay and the peer started through the CLI exactly as a user
 * starts them, and the bench's own local server, load generator and many-tunnel peer. Every
 * process started here is tracked so `stopAll()` can end it (and only it) by pid.
 */
import { type ChildProcess, execFile, fork, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NODE_FLAGS } from "../../src/cli/node-flags.ts";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "agent-relay.js");
const TSX = ["--import", "tsx"];

const live = new Set<Proc>();

export class Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private out = "";
  private err = "";
  private readonly watchers = new Set<() => void>();

  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    live.add(this);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        live.delete(this);
        for (const w of this.watchers) w();
        resolve(code ?? (signal ? null : 0));
      });
    });
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (s: string) => {
      this.out += s;
      for (const w of this.watchers) w();
    });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (s: string) => {
      this.err = (this.err + s).slice(-4000);
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Throws, with how it ended and its last stderr, if the process is no longer running. */
  assertRunning(): void {
    if (this.running) return;
    const how = this.child.signalCode ? `signal ${this.child.signalCode}` : `code ${this.child.exitCode}`;
    throw new Error(
      `${this.name} (pid ${this.child.pid}) exited with ${how} during the run; stderr: ${this.stderrTail() || "(empty)"}`,
    );
  }

  /** Resolves with the first stdout match of `re` (searching from `from`), or rejects on timeout or exit. */
  waitForOutput(re: RegExp, timeoutMs: number, from = 0): Promise<{ match: RegExpExecArray; end: number }> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.out.slice(from));
        if (m) {
          finish();
          resolve({ match: m, end: from + m.index + m[0].length });
        } else if (!this.running) {
          finish();
          reject(new Error(`${this.name} exited before printing ${re}; stderr: ${this.err.trim()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new Error(`${this.name} did not print ${re} within ${timeoutMs} ms; stderr: ${this.err.trim()}`),
        );
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.watchers.delete(check);
      };
      this.watchers.add(check);
      check();
    });
  }

  get stdoutLength(): number {
    return this.out.length;
  }

  stderrTail(): string {
    return this.err.trim();
  }

  /** Sends `signal`, waits for the exit, and kills it if it has not exited within `timeoutMs`. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 5000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Ends every process this module started that is still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop("SIGTERM", 2000)));
}

/** Kills every tracked process at once, synchronously (for exit handlers). */
export function killAllNow(): void {
  for (const p of live) if (p.running) p.child.kill("SIGKILL");
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `agent-relay-bench-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Extra Node flags for the relay and peer processes, from `BENCH_NODE_FLAGS` (space-separated), for
 * profiling a run: `BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof"`. Node refuses `--cpu-prof`
 * in NODE_OPTIONS, and NODE_OPTIONS would reach the load generator and local server too.
 */
const extraFlags = (): string[] => (process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean);

/** Node flags for the relay and the peer only (not the pipes): `wrk-compare --perf` adds `--perf-basic-prof`. */
const tunnelFlags: string[] = [];
export function addTunnelFlags(...flags: string[]): void {
  tunnelFlags.push(...flags);
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  // With the V8 flags the command's shebang gives it, as users run it.
  return spawn(process.execPath, [...NODE_FLAGS, ...extraFlags(), ...tunnelFlags, BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** `agent-relay relay` on 127.0.0.1; port 0 picks a free one. Resolves once it listens. */
export async function startRelay(port: number, extra: string[] = []): Promise<{ proc: Proc; port: number }> {
  const proc = new Proc(
    "relay",
    cli(["relay", "--listen", `127.0.0.1:${port}`, "--domain", "localhost", "--log-level", "warn", ...extra]),
  );
  const { match } = await proc.waitForOutput(/relay listening on 127\.0\.0\.1:(\d+)/, 15_000);
  return { proc, port: Number(match[1]) };
}

/** `agent-relay agent create <name>` in `home`. */
export function createAgent(home: string, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, "agent", "create", name],
      { cwd: ROOT, env: { ...process.env, AGENT_RELAY_HOME: home } },
      (err, _stdout, stderr) =>
        err ? reject(new Error(`agent create failed: ${stderr || err.message}`)) : resolve(),
    );
  });
}

let upFlags: Promise<Set<string>> | undefined;

/** The options `agent-relay up --help` lists in this build, such as `--secure-channel`. */
export function upOptions(): Promise<Set<string>> {
  upFlags ??= new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, "up", "--help"], { cwd: ROOT }, (err, stdout) =>
      err ? reject(err) : resolve(new Set(stdout.match(/--[a-z][a-z-]+/g) ?? [])),
    );
  });
  return upFlags;
}

/** `agent-relay up` for one agent. Resolves once it prints its public URL. */
export async function startUp(
  home: string,
  name: string,
  relayPort: number,
  targetPort: number,
  extra: string[] = [],
): Promise<{ proc: Proc; url: string; host: string }> {
  const proc = new Proc(
    "peer",
    cli(
      [
        "up",
        "--agent",
        name,
        "--relay",
        `ws://127.0.0.1:${relayPort}`,
        "--target",
        `http://127.0.0.1:${targetPort}`,
        "--log-level",
        "warn",
        "--no-ui",
        ...extra,
      ],
      { AGENT_RELAY_HOME: home },
    ),
  );
  const { match } = await proc.waitForOutput(new RegExp(`^${name}: (\\S+) -> `, "m"), 15_000);
  const url = match[1]!;
  return { proc, url, host: new URL(url).host };
}

/** The bench's local HTTP server (bench/procs/local-server.ts) in its own process. */
export async function startLocalServer(): Promise<{ proc: Proc; port: number }> {
  const proc = new Proc(
    "local server",
    spawn(process.execPath, [...TSX, join(ROOT, "bench/procs/local-server.ts")], {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    }),
  );
  const { match } = await proc.waitForOutput(/listening (\d+)/, 15_000);
  return { proc, port: Number(match[1]) };
}

/**
 * A bare byte pipe in front of `127.0.0.1:<port>` (bench/procs/pipe-hop.ts), run with the V8 flags
 * the relay and the peer get (under tsx, where they run from dist/; the loader costs nothing once
 * the file is compiled).
 */
export async function startPipeHop(port: number): Promise<{ proc: Proc; port: number }> {
  const proc = new Proc(
    "pipe hop",
    spawn(
      process.execPath,
      [...NODE_FLAGS, ...extraFlags(), ...TSX, join(ROOT, "bench/procs/pipe-hop.ts"), String(port)],
      {
        cwd: ROOT,
        stdio: ["pipe", "pipe", "pipe"],
      },
    ),
  );
  const { match } = await proc.waitForOutput(/listening (\d+)/, 15_000);
  return { proc, port: Number(match[1]) };
}

/**
 * Two pipe hops in a row in front of `127.0.0.1:<port>`, the tunnel's shape without its framing.
 * Each is pushed onto `started` as soon as it runs, so the caller stops whatever did start.
 * `far` is the one clients dial; `near` dials the server.
 */
export async function startPipes(
  port: number,
  started: Proc[],
): Promise<{ port: number; far: Proc; near: Proc }> {
  const near = await startPipeHop(port);
  started.push(near.proc);
  const far = await startPipeHop(near.port);
  started.push(far.proc);
  return { port: far.port, far: far.proc, near: near.proc };
}

/** A bench process that takes requests over IPC and answers each with one message. */
export class IpcProc extends Proc {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Messages that are not answers (progress, events). */
  onEvent: ((msg: Record<string, unknown>) => void) | undefined;
  /** Resolves once the process says `{event:"ready"}`: it has loaded and listens for requests. */
  readonly ready: Promise<void>;

  constructor(name: string, file: string, args: string[] = [], nodeFlags: string[] = []) {
    super(
      name,
      fork(join(ROOT, file), args, {
        cwd: ROOT,
        execArgv: [...nodeFlags, ...TSX],
        stdio: ["pipe", "pipe", "pipe", "ipc"],
      }),
    );
    let isReady: () => void = () => {};
    this.ready = new Promise((resolve) => {
      isReady = resolve;
    });
    this.child.on("message", (raw) => {
      const msg = raw as { id?: number; ok?: boolean; result?: unknown; error?: string; event?: string };
      if (msg.event === "ready") return isReady();
      const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!p) return this.onEvent?.(raw as Record<string, unknown>);
      this.pending.delete(msg.id!);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`${name}: ${msg.error}`));
    });
    void this.exited.then(() => {
      for (const p of this.pending.values())
        p.reject(new Error(`${name} exited; stderr: ${this.stderrTail()}`));
      this.pending.clear();
    });
  }

  async call<T>(job: string, args: unknown): Promise<T> {
    await Promise.race([this.ready, this.exited]);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (!this.running) return reject(new Error(`${this.name} exited; stderr: ${this.stderrTail()}`));
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, job, args });
    });
  }
}

/** The load generator (bench/procs/load-worker.ts) in its own process. */
export function startLoadWorker(): IpcProc {
  return new IpcProc("load generator", "bench/procs/load-worker.ts");
}

/** The many-tunnel bench peer (bench/procs/many-peer.ts) in its own process (with BENCH_NODE_FLAGS). */
export function startManyPeer(): IpcProc {
  return new IpcProc("many-tunnel peer", "bench/procs/many-peer.ts", [], [...extraFlags(), ...tunnelFlags]);
}
