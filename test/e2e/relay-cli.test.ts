/** `agent-relay relay` settings as an operator meets them: --help, precedence, one-line errors. */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { envName, SETTINGS } from "../../src/relay/settings.ts";
import { BIN, tempHome } from "../helpers/cli.ts";

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
});

function relayEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, AGENT_RELAY_HOME: tempHome(), ...extra };
  return env;
}

function runRelay(
  args: string[],
  env = relayEnv(),
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, "relay", ...args], { env, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Starts a relay and resolves with its first stdout line (the listening line). */
function firstLine(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "relay", ...args], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let out = "";
    let err = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c;
      const nl = out.indexOf("\n");
      if (nl !== -1) resolve(out.slice(0, nl));
    });
    child.stderr!.on("data", (c: Buffer) => {
      err += c;
    });
    child.on("exit", (code) => reject(new Error(`relay exited ${code}: ${err}`)));
  });
}

describe("relay --help", () => {
  it("lists every setting with its default and environment variable", async () => {
    const { code, stdout } = await runRelay(["--help"]);
    expect(code).toBe(0);
    const help = stdout.replace(/\s+/g, " ");
    expect(help).toContain("--config <file>");
    for (const s of SETTINGS) {
      expect(help).toContain(`--${s.name} ${s.arg}`);
      expect(help).toContain(`(default: ${s.shown}; env ${envName(s.name)})`);
    }
  });
});

describe("invalid settings", () => {
  it("stop startup with one line that names the setting and where it came from", async () => {
    const dir = tempHome();
    const badFile = join(dir, "bad.json");
    writeFileSync(badFile, JSON.stringify({ "max-streams": 0 }));
    const unknownFile = join(dir, "unknown.json");
    writeFileSync(unknownFile, JSON.stringify({ "max-stream": 10 }));
    const cases: Array<[string[], Record<string, string>, string]> = [
      [["--max-streams", "abc"], {}, 'max-streams (from --max-streams): expected a whole number, got "abc"'],
      [
        [],
        { AGENT_RELAY_IDLE_TIMEOUT: "5 minutes" },
        "idle-timeout (from AGENT_RELAY_IDLE_TIMEOUT): expected a duration",
      ],
      [["--config", badFile], {}, `max-streams (from ${badFile}): must be an integer >= 1`],
      [["--config", unknownFile], {}, `max-stream (from ${unknownFile}): unknown setting`],
      [["--listen", "nowhere"], {}, 'listen (from --listen): expected host:port, got "nowhere"'],
      [
        ["--trust-proxy", "10.0.0.0/33"],
        {},
        'trust-proxy (from --trust-proxy): "10.0.0.0/33" is not an IP address or CIDR',
      ],
      [["--tls-cert", join(dir, "none.pem")], {}, "tls-key: missing; --tls-cert needs it"],
    ];
    for (const [args, env, message] of cases) {
      const r = await runRelay(args, relayEnv(env));
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
      expect(r.stderr).toContain(`agent-relay: invalid setting ${message}`);
    }
  });
});

describe("precedence", () => {
  it("takes a flag over the environment over the config file over the default", async () => {
    const file = join(tempHome(), "relay.json");
    writeFileSync(
      file,
      JSON.stringify({ domain: "file.test", listen: "127.0.0.1:0", "metrics-listen": "off" }),
    );
    const domainOf = (line: string) => /agents at http:\/\/<address>\.([a-z.]+):\d+/.exec(line)?.[1];

    expect(domainOf(await firstLine(["--config", file], relayEnv()))).toBe("file.test");
    expect(domainOf(await firstLine([], relayEnv({ AGENT_RELAY_CONFIG: file })))).toBe("file.test");
    const env = relayEnv({ AGENT_RELAY_CONFIG: file, AGENT_RELAY_DOMAIN: "env.test" });
    expect(domainOf(await firstLine([], env))).toBe("env.test");
    expect(domainOf(await firstLine(["--domain", "flag.test"], env))).toBe("flag.test");
  });

  it("serves /metrics on --metrics-listen", async () => {
    const line = await firstLine(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"], relayEnv());
    const port = Number(/metrics on 127\.0\.0\.1:(\d+)/.exec(line)?.[1]);
    const body = await new Promise<string>((resolve, reject) => {
      get({ host: "127.0.0.1", port, path: "/metrics" }, (res) => {
        let b = "";
        res.on("data", (c: Buffer) => {
          b += c;
        });
        res.on("end", () => resolve(b));
      }).on("error", reject);
    });
    expect(body).toMatch(/^agent_relay_tunnels 0$/m);
  });
});
