/**
 * The live feed behind `/api/events` (Server-Sent Events): `state` (all agents) on every change,
 * `request` per finished request, `notice` when the daemon fails to start an agent, and on connect the state plus the recent requests (`backlog`).
 * Only the last MAX_REQUESTS records are kept.
 */
import type { ServerResponse } from "node:http";
import type { RequestView, StateView } from "./view.ts";

export const MAX_REQUESTS = 500;
const HEARTBEAT_MS = 15_000;

export class LiveFeed {
  private readonly clients = new Set<ServerResponse>();
  private readonly recent: RequestView[] = [];
  private readonly snapshot: () => StateView;
  private pendingState = false;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(snapshot: () => StateView) {
    this.snapshot = snapshot;
    this.heartbeat = setInterval(() => this.write(": ping\n\n"), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get requests(): readonly RequestView[] {
    return this.recent;
  }

  addRequest(r: RequestView): void {
    this.recent.push(r);
    if (this.recent.length > MAX_REQUESTS) this.recent.splice(0, this.recent.length - MAX_REQUESTS);
    this.send("request", r);
  }

  /** A problem the user should see, such as an agent the daemon could not start. */
  notice(message: string): void {
    this.send("notice", { message });
  }

  /** Many changes in one tick (a reconcile, several tunnels) become one `state` event. */
  stateChanged(): void {
    if (this.pendingState) return;
    this.pendingState = true;
    setImmediate(() => {
      this.pendingState = false;
      if (this.clients.size > 0) this.send("state", this.snapshot());
    });
  }

  attach(res: ServerResponse): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "x-accel-buffering": "no",
      connection: "keep-alive",
    });
    res.write("retry: 2000\n\n");
    res.write(event("state", this.snapshot()));
    res.write(event("backlog", this.recent));
    this.clients.add(res);
    res.on("close", () => this.clients.delete(res));
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  private send(name: string, data: unknown): void {
    if (this.clients.size > 0) this.write(event(name, data));
  }

  private write(chunk: string): void {
    for (const c of this.clients) c.write(chunk);
  }
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
