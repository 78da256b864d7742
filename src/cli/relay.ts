/**
 * `agent-relay relay`: run a relay node. Every setting is a flag, an AGENT_RELAY_* variable or a key
 * in the --config file (that order of precedence). SIGTERM and SIGINT drain and exit 0; SIGHUP
 * reloads the TLS certificate.
 */
import type { Command } from "commander";
import { CONFIG_ENV, CONFIG_FLAG, loadRelayConfig } from "../relay/config-load.ts";
import { envName, type RawValue, SETTINGS } from "../relay/settings.ts";
import { Option } from "./commander.ts";
import { createLogger } from "./log.ts";

const camel = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function relayCommand(program: Command): void {
  const cmd = program
    .command("relay")
    .description("run a relay node")
    .addOption(
      new Option(
        `--${CONFIG_FLAG} <file>`,
        `JSON file of settings, keys as the flag names (env ${CONFIG_ENV})`,
      ),
    );
  for (const s of SETTINGS) {
    cmd.addOption(
      new Option(`--${s.name} ${s.arg}`, `${s.help} (default: ${s.shown}; env ${envName(s.name)})`),
    );
  }
  cmd.action(async (o: Record<string, RawValue | undefined>) => {
    const flags: Record<string, RawValue | undefined> = { [CONFIG_FLAG]: o[CONFIG_FLAG] };
    for (const s of SETTINGS) flags[s.name] = o[camel(s.name)];
    const config = loadRelayConfig({ flags, env: process.env });
    const log = createLogger(config.logLevel, "relay");
    // Loaded here, not at the top: `up` and the other commands never pay for the relay's modules.
    const { createRelay } = await import("../relay/server.ts");
    const relay = createRelay(config, log);
    const bound = await relay.listen();
    const metrics = relay.metricsPort();
    process.stdout.write(
      `relay listening on ${config.host}:${bound}${config.tlsCert ? " (TLS)" : ""}; agents at ${relay.urlFor("<address>")}` +
        `${metrics === undefined ? "" : `; metrics on ${config.metricsListen!.host}:${metrics}`}\n`,
    );
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) {
        log.warn({ signal }, "second signal: stopping now");
        await relay.close();
        process.exit(0);
      }
      stopping = true;
      log.info({ signal, drainTimeoutMs: config.drainTimeoutMs }, "shutting down: draining");
      await relay.drain();
      process.exit(0);
    };
    process.on("SIGINT", () => void stop("SIGINT"));
    process.on("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGHUP", () => void relay.reloadTls());
  });
}
