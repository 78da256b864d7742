/** What the page is sent: the agents (no keys, no ids) and request records (no bodies, no queries). */
import type { AgentStatus } from "../daemon.ts";
import type { RequestRecord } from "../forwarder.ts";
import type { PublicUrls } from "./urls.ts";

export interface AgentView {
  name: string;
  address: string;
  shortAddress: string;
  target: string | null;
  enabled: boolean;
  state: "disconnected" | "connecting" | "connected" | "error";
  reason: string | null;
  url: string | null;
  urlExact: boolean;
  /** Date.now() of the last state change, when a tunnel runs. */
  since: number | null;
}

export interface StateView {
  agents: AgentView[];
  relay: string | null;
  /** Set when `up --agent <name>` runs just that agent, whatever the switches say. */
  only: string | null;
}

export interface RequestView {
  time: number;
  agent: string;
  method: string;
  path: string;
  status: number;
  ms: number;
  bytesIn: number;
  bytesOut: number;
}

export function shortAddress(address: string): string {
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}

export function agentView(a: AgentStatus, relay: string | undefined, urls: PublicUrls): AgentView {
  if (a.state.kind === "connected") urls.learn(relay, a.state.url);
  const shown =
    a.state.kind === "connected" ? { url: a.state.url, exact: true } : urls.urlFor(relay, a.address);
  const now = Date.now();
  return {
    name: a.name,
    address: a.address,
    shortAddress: shortAddress(a.address),
    target: a.target ?? null,
    enabled: a.enabled,
    state: a.state.kind,
    reason: a.state.kind === "error" ? a.state.reason : null,
    url: shown?.url ?? null,
    urlExact: shown?.exact ?? false,
    since: a.sinceMs === undefined ? null : now - a.sinceMs,
  };
}

/** The path only: the forwarder already drops the query; cut anything long. */
export function requestView(r: RequestRecord & { agent: string; time: number }): RequestView {
  const path = r.path.split("?")[0]!;
  return {
    time: r.time,
    agent: r.agent,
    method: r.method.slice(0, 16),
    path: path.length > 512 ? `${path.slice(0, 511)}…` : path,
    status: r.status,
    ms: Math.round(r.ms),
    bytesIn: r.bytesIn,
    bytesOut: r.bytesOut,
  };
}
