/**
 * What the page can change: create an agent, switch one on (confirmed) or off. Every change goes
 * through the Store (the settings file the CLI uses) and then straight to the daemon.
 */
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import type { PeerDaemon } from "../daemon.ts";
import { type Store, StoreError } from "../store.ts";
import { checkTarget, type TargetVerdict } from "../target-check.ts";
import type { UiErrorCode } from "./errors.ts";

export const MAX_BODY = 8 * 1024;

export class ApiError extends Error {
  constructor(
    readonly code: UiErrorCode,
    message?: string,
  ) {
    super(message ?? code);
  }
}

export interface ApiContext {
  daemon: PeerDaemon;
  store: Store;
  log: Logger | undefined;
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") throw new ApiError("unsupported_media_type");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.byteLength;
    if (size > MAX_BODY) throw new ApiError("payload_too_large");
    chunks.push(c);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new ApiError("bad_request");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new ApiError("bad_request");
  return parsed as Record<string, unknown>;
}

function validTarget(value: unknown): string {
  let u: URL | undefined;
  try {
    u = typeof value === "string" ? new URL(value) : undefined;
  } catch {
    u = undefined;
  }
  if (u?.protocol !== "http:" || !u.hostname)
    throw new ApiError(
      "invalid_setting",
      "the target must be an http:// URL, for example http://127.0.0.1:3000",
    );
  return u.origin;
}

/** Store refusals (bad name, duplicate, no target) are the user's to fix: 400 with the message. */
function apply<T>(ctx: ApiContext, change: () => T): T {
  let out: T;
  try {
    out = change();
  } catch (err) {
    if (err instanceof StoreError || err instanceof ApiError) {
      throw err instanceof ApiError ? err : new ApiError("invalid_setting", err.message);
    }
    throw err;
  }
  try {
    ctx.daemon.reconcile();
  } catch (err) {
    throw new ApiError("internal_error", `saved, but not applied: ${(err as Error).message}`);
  }
  return out;
}

export function createAgent(ctx: ApiContext, body: Record<string, unknown>): { name: string } {
  if (typeof body.name !== "string") throw new ApiError("invalid_setting", "give the agent a name");
  const name = body.name.trim();
  const target = validTarget(body.target);
  apply(ctx, () => ctx.store.createAgent(name, target));
  ctx.log?.info({ agent: name, target }, "agent created from the management page");
  return { name };
}

export function setEnabled(ctx: ApiContext, name: string, on: boolean, body: Record<string, unknown>): void {
  if (on && body.confirm !== true) {
    throw new ApiError("invalid_setting", 'enabling needs the user\'s confirmation ({"confirm":true})');
  }
  apply(ctx, () =>
    ctx.store.update(name, (a) => {
      if (on && !a.target) {
        throw new StoreError(`${name} has no target; run: agent-relay agent set ${name} --target <url>`);
      }
      a.enabled = on;
    }),
  );
  ctx.log?.info(
    { agent: name },
    on ? "agent enabled from the management page" : "agent disabled from the management page",
  );
}

/** Before the dialog's Enable: does the target answer without credentials? */
export async function checkAgentTarget(ctx: ApiContext, name: string): Promise<TargetVerdict | null> {
  let target: string | undefined;
  try {
    target = ctx.store.find(name).target;
  } catch (err) {
    throw new ApiError("not_found", (err as Error).message);
  }
  return target ? checkTarget(target, []) : null;
}
