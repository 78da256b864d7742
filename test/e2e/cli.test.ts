import { chmodSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { NODE_FLAGS } from "../../src/cli/node-flags.ts";
import { curl, killAll, run, start, tempHome } from "../helpers/cli.ts";
import { cleanup, startLocalServer } from "../helpers/harness.ts";

afterEach(async () => {
  killAll();
  await cleanup();
});

async function startRelayCli(home: string) {
  const relay = start(home, [
    "relay",
    "--listen",
    "127.0.0.1:0",
    "--domain",
    "localhost",
    "--log-level",
    "warn",
  ]);
  const port = Number((await relay.waitFor(/relay listening on 127\.0\.0\.1:(\d+)/))[1]);
  return { relay, port };
}

async function echoServer() {
  return startLocalServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ path: req.url, agentId: req.headers["x-agent-id"] }));
  });
}

describe("the command line, as a user runs it", () => {
  it("runs with the V8 flags of src/cli/node-flags.ts, from the shebang", async () => {
    const bin = join(import.meta.dirname, "..", "..", "bin", "agent-relay.js");
    expect(readFileSync(bin, "utf8").split("\n")[0]).toBe(`#!/usr/bin/env -S node ${NODE_FLAGS.join(" ")}`);
    const home = tempHome();
    const relay = start(home, ["relay", "--listen", "127.0.0.1:0", "--domain", "localhost"], {
      executable: true,
    });
    await relay.waitFor(/relay listening on/);
    const argv = readFileSync(`/proc/${relay.child.pid}/cmdline`, "latin1").split("\0");
    for (const flag of NODE_FLAGS) expect(argv).toContain(flag);
  });

  it("relay, agent create, up, curl: the request reaches the local server and comes back", async () => {
    const home = tempHome();
    const { port } = await startRelayCli(home);
    const local = await echoServer();
    const created = await run(home, ["agent", "create", "demo"]);
    expect(created.code).toBe(0);
    const address = /address: (0x[0-9a-fA-F]{40})/.exec(created.stdout)![1]!;
    const id = /id:\s+([0-9a-f-]{36})/.exec(created.stdout)![1]!;

    // The key file is 0600 and the address printed is not the key.
    const keyFile = join(home, "keys", "demo.key");
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const keyHex = readFileSync(keyFile, "utf8").trim();
    expect(created.stdout).not.toContain(keyHex);
    expect(readFileSync(join(home, "config.json"), "utf8")).not.toContain(keyHex);

    const up = start(home, [
      "up",
      "--agent",
      "demo",
      "--relay",
      `ws://127.0.0.1:${port}`,
      "--target",
      local.url,
    ]);
    const url = (await up.waitFor(/demo: (http:\/\/[0-9a-f]{40}\.localhost:\d+) -> /))[1]!;
    expect(url).toBe(`http://${address.slice(2).toLowerCase()}.localhost:${port}`);

    const answer = await curl(`${url}/anything?x=1`);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ path: "/anything?x=1", agentId: id });

    const status = await run(home, ["status"]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(
      new RegExp(`^demo\\tconnected ${url.replace(/\./g, "\\.")} \\(\\d+s\\)$`, "m"),
    );

    // Killed hard: the relay frees the address and answers agent_offline.
    up.child.kill("SIGKILL");
    await up.exited;
    let offline = await curl(`${url}/after`);
    for (let i = 0; i < 50 && !offline.body.includes("agent_offline"); i++)
      offline = await curl(`${url}/after`);
    expect(offline.status).toBe(502);
    expect(JSON.parse(offline.body)).toEqual({ error: "agent_offline" });

    for (const out of [created.stdout, up.output(), status.stdout]) expect(out).not.toContain(keyHex);
  });

  it("asks before going public: refuses without a terminal, accepts --yes, and remembers across restarts", async () => {
    const home = tempHome();
    const { port } = await startRelayCli(home);
    const local = await echoServer();
    await run(home, ["agent", "create", "a1", "--target", local.url]);

    const refused = await run(home, ["agent", "enable", "a1"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/no terminal to confirm on; pass --yes/);
    expect(JSON.parse(readFileSync(join(home, "config.json"), "utf8")).agents[0].enabled).toBe(false);
    const noneEnabled = await run(home, ["up", "--no-ui", "--relay", `ws://127.0.0.1:${port}`]);
    expect(noneEnabled.code).toBe(1);
    expect(noneEnabled.stderr).toMatch(/no enabled agents/);

    const yes = await run(home, ["agent", "enable", "a1", "--yes"]);
    expect(yes.code).toBe(0);
    expect(yes.stdout).toMatch(/Anyone with that URL can send requests/);
    expect(yes.stdout).toMatch(/WARNING: .* answered 200 without any credentials/);

    const first = start(home, ["up"]);
    const url = (await first.waitFor(/a1: (http:\/\/\S+) -> /))[1]!;
    expect((await curl(`${url}/one`)).status).toBe(200);
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);

    // Started again with no flags: the enabled agent and the relay come from the settings file.
    const second = start(home, ["up"]);
    expect((await second.waitFor(/a1: (http:\/\/\S+) -> /))[1]).toBe(url);
    expect((await curl(`${url}/two`)).status).toBe(200);
  });

  it("applies enable and disable while up runs, without a restart", async () => {
    const home = tempHome();
    const { port } = await startRelayCli(home);
    const local = await echoServer();
    await run(home, ["agent", "create", "a1", "--target", local.url]);
    await run(home, ["agent", "create", "a2", "--target", local.url]);
    await run(home, ["agent", "enable", "a1", "--yes"]);
    const up = start(home, ["up", "--relay", `ws://127.0.0.1:${port}`]);
    const url1 = (await up.waitFor(/a1: (http:\/\/\S+) -> /))[1]!;

    await run(home, ["agent", "enable", "a2", "--yes"]);
    const url2 = (await up.waitFor(/a2: (http:\/\/\S+) -> /))[1]!;
    expect((await curl(`${url2}/x`)).status).toBe(200);

    await run(home, ["agent", "disable", "a1"]);
    // A request racing the tunnel's goodbye may get tunnel_error; once it is gone, agent_offline.
    let gone = await curl(`${url1}/x`);
    for (let i = 0; i < 50 && !gone.body.includes("agent_offline"); i++) gone = await curl(`${url1}/x`);
    expect(JSON.parse(gone.body)).toEqual({ error: "agent_offline" });
    expect((await curl(`${url2}/y`)).status).toBe(200);

    const status = await run(home, ["status"]);
    expect(status.stdout).toMatch(/^a1\tdisconnected \(disabled\)$/m);
    expect(status.stdout).toMatch(/^a2\tconnected http/m);
  });

  it("refuses a key file that others can read", async () => {
    const home = tempHome();
    await run(home, ["agent", "create", "a1", "--target", "http://127.0.0.1:9"]);
    chmodSync(join(home, "keys", "a1.key"), 0o644);
    const r = await run(home, ["up", "--agent", "a1", "--relay", "ws://127.0.0.1:9"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/readable by others \(mode 644\); run: chmod 600 /);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("demo runs everything in one process and prints a curl line that works", async () => {
    const home = tempHome();
    const demo = start(home, ["demo", "--listen", "127.0.0.1:0"]);
    const url = (await demo.waitFor(/curl (http:\/\/[0-9a-f]{40}\.localhost:\d+\/hello)/))[1]!;
    const answer = await curl(url);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ method: "GET", path: "/hello" });
    // A second run reuses the demo agent instead of making another.
    demo.child.kill("SIGTERM");
    await demo.exited;
    const again = start(home, ["demo", "--listen", "127.0.0.1:0"]);
    await again.waitFor(/curl http:\/\//);
    expect(JSON.parse(readFileSync(join(home, "config.json"), "utf8")).agents).toHaveLength(1);
  });

  it("status says so when no peer is running", async () => {
    const r = await run(tempHome(), ["status"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("agent-relay: no `agent-relay up` is running for this config folder\n");
  });

  it("writes service files for launchd and systemd", async () => {
    const home = tempHome();
    const linux = await run(home, ["service", "install", "--platform", "linux", "--print"]);
    expect(linux.stdout).toContain(`Environment="AGENT_RELAY_HOME=${home}"`);
    expect(linux.stdout).toMatch(
      /^ExecStart=".*node" "--initial-old-space-size=64" ".*bin\/agent-relay\.js" up$/m,
    );
    expect(linux.stdout).toContain("Restart=always");
    const mac = await run(home, ["service", "install", "--platform", "darwin", "--print"]);
    expect(mac.stdout).toContain("<key>Label</key>\n  <string>ai.agentrelay.peer</string>");
    expect(mac.stdout).toContain(`<string>${home}</string>`);
    expect(mac.stdout).toContain("<key>KeepAlive</key>\n  <true/>");
  });
});
