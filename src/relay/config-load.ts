/**
 * Builds the relay's configuration from its three sources, highest precedence first: flags, then
 * `AGENT_RELAY_*` environment variables, then a JSON config file (`--config` / `AGENT_RELAY_CONFIG`).
 * Any bad value stops startup with one ConfigError naming the setting and where it came from.
 */
import { readFileSync } from "node:fs";
import { ConfigError, type RelayConfig, verifyRelayConfig } from "./config.ts";
import { DEFAULT_METRICS_LISTEN, envName, type RawValue, SETTINGS, type Setting } from "./settings.ts";

export interface ConfigSources {
  /** Flag values by setting name (`max-streams`); undefined when the flag was not given. */
  flags: Record<string, RawValue | undefined>;
  env: NodeJS.ProcessEnv;
}

export const CONFIG_FLAG = "config";
export const CONFIG_ENV = envName(CONFIG_FLAG);

export function loadRelayConfig({ flags, env }: ConfigSources): RelayConfig {
  const out: Partial<RelayConfig> = { metricsListen: { ...DEFAULT_METRICS_LISTEN, optional: true } };
  /** Which source set each setting last, to name it in errors. */
  const from = new Map<string, string>();
  const apply = (s: Setting, raw: RawValue, source: string) => {
    try {
      s.apply(out, raw);
    } catch (err) {
      throw new ConfigError(`${s.name} (from ${source})`, (err as Error).message);
    }
    from.set(s.name, source);
  };

  const file = flags[CONFIG_FLAG] ?? env[CONFIG_ENV];
  if (file !== undefined && file !== "") {
    const path = String(file);
    for (const [key, raw] of Object.entries(readConfigFile(path))) {
      const s = SETTINGS.find((x) => x.name === key);
      if (!s) throw new ConfigError(`${key} (from ${path})`, "unknown setting");
      if (raw === null || (typeof raw === "object" && !Array.isArray(raw)))
        throw new ConfigError(`${key} (from ${path})`, "expected a string, number or list");
      apply(s, raw as RawValue, path);
    }
  }
  for (const s of SETTINGS) {
    const raw = env[envName(s.name)];
    if (raw !== undefined && raw !== "") apply(s, raw, envName(s.name));
  }
  for (const s of SETTINGS) {
    const raw = flags[s.name];
    if (raw !== undefined) apply(s, raw, `--${s.name}`);
  }

  try {
    return verifyRelayConfig(out);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const source = from.get(err.setting);
    throw source ? new ConfigError(`${err.setting} (from ${source})`, err.detail) : err;
  }
}

function readConfigFile(path: string): Record<string, unknown> {
  let textValue: string;
  try {
    textValue = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(CONFIG_FLAG, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(textValue);
  } catch (err) {
    throw new ConfigError(CONFIG_FLAG, `${path} is not JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw new ConfigError(CONFIG_FLAG, `${path} must hold a JSON object of settings`);
  return parsed as Record<string, unknown>;
}
