/** `agent-relay status`: asks the running `up` over its control socket; one line per agent. */
import { queryControl } from "../peer/control.ts";
import type { AgentStatus } from "../peer/daemon.ts";
import { openStore } from "./agent.ts";

export function formatAge(ms: number | undefined): string {
  if (ms === undefined) return "";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

export function formatStatus(a: AgentStatus): string {
  const state =
    a.state.kind === "connected"
      ? `connected ${a.state.url}`
      : a.state.kind === "error"
        ? `error ${a.state.reason}`
        : a.state.kind;
  const age = a.sinceMs === undefined ? (a.enabled ? "" : " (disabled)") : ` (${formatAge(a.sinceMs)})`;
  return `${a.name}\t${state}${age}`;
}

export async function runStatus(): Promise<void> {
  const reply = await queryControl(openStore().home);
  if (reply.agents.length === 0) process.stdout.write("no agents\n");
  for (const a of reply.agents) process.stdout.write(`${formatStatus(a)}\n`);
}
