/**
 * The peer's settings file and key files under one home folder:
 *   <home>/config.json      agents and their settings (no secrets), written atomically
 *   <home>/keys/<name>.key  one private key per agent, mode 0600
 */
import { randomUUID } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import envPaths from "env-paths";
import { AgentIdentity } from "./identity.ts";

export interface AgentRecord {
  name: string;
  /** UUID the local server receives in X-Agent-Id. */
  id: string;
  /** Checksummed address. */
  address: string;
  /** Local server, http://host:port. */
  target?: string;
  enabled: boolean;
}

export interface PeerSettings {
  version: 1;
  /** Default relay URL for `up`. */
  relay?: string;
  /** Names of the identity headers the local server receives (default X-Agent-Id etc.). */
  headers?: { agentId: string; agentAddress: string; relayOrigin: string };
  /** Requests in flight per agent before `503 peer_busy` (default 1,024). */
  maxInFlight?: number;
  /** Noise secure channel: "auto" (default: on for ws://, off for wss://), "always" or "never". */
  secureChannel?: "auto" | "always" | "never";
  agents: AgentRecord[];
}

export class StoreError extends Error {
  override name = "StoreError";
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** `$AGENT_RELAY_HOME`, else the platform's config folder for agent-relay. */
export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.AGENT_RELAY_HOME || envPaths("agent-relay", { suffix: "" }).config;
}

export class Store {
  readonly home: string;

  constructor(home: string) {
    this.home = home;
  }

  get configPath(): string {
    return join(this.home, "config.json");
  }

  keyPath(name: string): string {
    return join(this.home, "keys", `${name}.key`);
  }

  load(): PeerSettings {
    if (!existsSync(this.configPath)) return { version: 1, agents: [] };
    let parsed: PeerSettings;
    try {
      parsed = JSON.parse(readFileSync(this.configPath, "utf8")) as PeerSettings;
    } catch (err) {
      throw new StoreError(
        `${this.configPath} is not valid JSON (${(err as Error).message}); fix or remove it`,
      );
    }
    if (parsed.version !== 1 || !Array.isArray(parsed.agents)) {
      throw new StoreError(`${this.configPath} is not an agent-relay settings file (version 1)`);
    }
    return parsed;
  }

  /** Writes to a temporary file, then renames it over the old one, so a crash leaves either version. */
  save(settings: PeerSettings): void {
    mkdirSync(this.home, { recursive: true, mode: 0o700 });
    const tmp = `${this.configPath}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.configPath);
  }

  find(name: string): AgentRecord {
    const agent = this.load().agents.find((a) => a.name === name);
    if (!agent) throw new StoreError(`no agent named "${name}"; see \`agent-relay agent list\``);
    return agent;
  }

  createAgent(name: string, target?: string): { record: AgentRecord; identity: AgentIdentity } {
    if (!NAME.test(name)) throw new StoreError(`agent name "${name}" must be 1-64 letters, digits, - or _`);
    const settings = this.load();
    if (settings.agents.some((a) => a.name === name))
      throw new StoreError(`an agent named "${name}" already exists`);
    const identity = AgentIdentity.generate();
    mkdirSync(join(this.home, "keys"), { recursive: true, mode: 0o700 });
    const keyFile = this.keyPath(name);
    writeFileSync(keyFile, `${identity.exportPrivateKeyHex()}\n`, { mode: 0o600, flag: "wx" });
    chmodSync(keyFile, 0o600);
    const record: AgentRecord = { name, id: randomUUID(), address: identity.checksumAddress, enabled: false };
    if (target) record.target = target;
    settings.agents.push(record);
    this.save(settings);
    return { record, identity };
  }

  /** Loads an agent's key, refusing a key file that others can read. */
  loadIdentity(name: string): AgentIdentity {
    const keyFile = this.keyPath(name);
    if (!existsSync(keyFile)) throw new StoreError(`key file for "${name}" is missing (${keyFile})`);
    const mode = statSync(keyFile).mode & 0o777;
    if (mode & 0o077) {
      throw new StoreError(
        `key file ${keyFile} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${keyFile}`,
      );
    }
    let identity: AgentIdentity;
    try {
      identity = AgentIdentity.fromHex(readFileSync(keyFile, "utf8"));
    } catch {
      throw new StoreError(`key file ${keyFile} does not hold a valid key`);
    }
    return identity;
  }

  update(name: string, change: (a: AgentRecord) => void): AgentRecord {
    const settings = this.load();
    const agent = settings.agents.find((a) => a.name === name);
    if (!agent) throw new StoreError(`no agent named "${name}"; see \`agent-relay agent list\``);
    change(agent);
    this.save(settings);
    return agent;
  }

  removeAgent(name: string): void {
    const settings = this.load();
    const before = settings.agents.length;
    settings.agents = settings.agents.filter((a) => a.name !== name);
    if (settings.agents.length === before) throw new StoreError(`no agent named "${name}"`);
    this.save(settings);
    rmSync(this.keyPath(name), { force: true });
  }

  /** Changes top-level settings (relay, header names, limits) in one atomic write. */
  updateSettings(change: (s: PeerSettings) => void): void {
    const settings = this.load();
    change(settings);
    this.save(settings);
  }
}
