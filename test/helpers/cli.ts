/** Runs the real `agent-relay` CLI (bin/agent-relay.js → dist/) as child processes. */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

export const BIN = join(import.meta.dirname, "..", "..", "bin", "agent-relay.js");

const children = new Set<ChildProcess>();

export function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  children.clear();
}

const homes: string[] = [];
// Registered when a test file imports this module, so it runs after that file's own afterAll
// hooks (which stop the processes using these folders).
afterAll(() => {
  for (const h of homes.splice(0)) {
    try {
      rmSync(h, { recursive: true, force: true });
    } catch {
      // a process still exiting wrote into it: left for the OS to clean
    }
  }
});

export function tempHome(): string {
  const home = mkdtempSync(join(tmpdir(), "agent-relay-test-"));
  homes.push(home);
  return home;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with stdin closed (not a TTY). */
export function run(home: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, AGENT_RELAY_HOME: home }, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}

export interface Running {
  child: ChildProcess;
  /** Everything printed so far. */
  output(): string;
  /** Resolves with the first match of `re` in stdout+stderr, waiting for it if needed. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

/**
 * Starts a long-running command (relay, up); `executable` runs bin/agent-relay.js itself, through
 * its shebang, instead of `node bin/agent-relay.js`.
 */
export function start(home: string, args: string[], o: { executable?: boolean } = {}): Running {
  const [command, argv] = o.executable ? [BIN, args] : [process.execPath, [BIN, ...args]];
  const child = spawn(command, argv, {
    env: { ...process.env, AGENT_RELAY_HOME: home },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let out = "";
  const waiters: Array<() => void> = [];
  const onData = (c: Buffer) => {
    out += c.toString();
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => out,
    waitFor(re, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${re} in output:\n${out}`)),
          timeoutMs,
        );
        const check = () => {
          const m = out.match(re);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          } else if (child.exitCode !== null) {
            clearTimeout(timer);
            reject(new Error(`process exited (${child.exitCode}) before ${re}; output:\n${out}`));
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

/** curl, as a user would run it; returns status and body. */
export function curl(url: string, extra: string[] = []): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    execFile("curl", ["-s", "--max-time", "10", "-w", "\n%{http_code}", ...extra, url], (err, stdout) => {
      if (err && !stdout) return reject(err);
      const i = stdout.lastIndexOf("\n");
      resolve({ status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) });
    });
  });
}
