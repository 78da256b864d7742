/**
 * One request to every agent in `hosts` through the relay, retrying the ones that fail until all
 * have answered 200 or the deadline passes.
 *
 * A sweep can come in parts, for hosts that become ready one batch at a time (tunnels coming back
 * after a restart): calls with the same `session` share one keep-alive pool, so each batch does not
 * open its connections to the relay again, and the call with `last` closes it.
 */
import { Agent } from "node:http";
import { send } from "./http-client.ts";

export interface SweepJob {
  port: number;
  hosts: string[];
  concurrency: number;
  deadlineMs: number;
  /** Calls with the same session share their connections; see above. */
  session?: string;
  /** The session's last call: close its connections afterwards. */
  last?: boolean;
}

export interface SweepResult {
  ok: number;
  /** Agents that never answered 200 before the deadline. */
  failed: number;
  /** Requests that did not answer 200 (each is retried until the deadline). */
  failedAttempts: number;
  seconds: number;
}

const sessions = new Map<string, Agent>();

function agentFor(job: SweepJob): Agent {
  if (job.session === undefined) return new Agent({ keepAlive: true, maxSockets: job.concurrency });
  let agent = sessions.get(job.session);
  if (!agent) {
    agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
    sessions.set(job.session, agent);
  }
  return agent;
}

export async function sweep(job: SweepJob): Promise<SweepResult> {
  const started = performance.now();
  const agent = agentFor(job);
  let todo = [...job.hosts];
  let failedAttempts = 0;
  try {
    while (todo.length > 0 && performance.now() - started < job.deadlineMs) {
      const failed: string[] = [];
      let next = 0;
      const worker = async () => {
        while (next < todo.length) {
          const host = todo[next++]!;
          const o = await send({ port: job.port, host }, "/small", { agent, timeoutMs: 5000 });
          if (o.status !== 200) failed.push(host);
        }
      };
      await Promise.all(Array.from({ length: Math.min(job.concurrency, todo.length) }, worker));
      failedAttempts += failed.length;
      todo = failed;
      if (todo.length > 0) await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    if (job.session === undefined || job.last) {
      agent.destroy();
      if (job.session !== undefined) sessions.delete(job.session);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return { ok: job.hosts.length - todo.length, failed: todo.length, failedAttempts, seconds };
}
