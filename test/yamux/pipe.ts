/**
 * In-memory transports for yamux unit tests: two Sessions joined the way a WebSocket joins them
 * (ordered messages, delivered asynchronously, send callbacks once "written"). Everything here is
 * test code; the sessions on both ends are the real ones.
 */
import { once } from "node:events";
import type { Duplex } from "node:stream";
import type { YamuxConfig } from "../../src/yamux/config.ts";
import { StreamDuplex } from "../../src/yamux/duplex.ts";
import { HEADER_LENGTH } from "../../src/yamux/frame.ts";
import { Session, type SessionClosedError, type SessionTransport } from "../../src/yamux/session.ts";
import type { YamuxStream } from "../../src/yamux/stream.ts";

/** One direction of a link: counts what passes and can hold messages back. */
export class Wire implements SessionTransport {
  /** Every message sent, in order (kept only when `record` is set). */
  readonly messages: Buffer[] = [];
  messageCount = 0;
  bytes = 0;
  record = false;
  /** While true, messages queue here instead of being delivered. */
  private held: Array<[Buffer, (err?: Error | null) => void]> | null = null;
  private broken = false;
  deliver: (data: Buffer) => void = () => {};

  send(data: Buffer, cb: (err?: Error | null) => void): void {
    if (this.broken) return void setImmediate(cb, new Error("wire is broken"));
    this.messageCount++;
    this.bytes += data.byteLength;
    if (this.record) this.messages.push(Buffer.from(data));
    if (this.held) {
      this.held.push([data, cb]);
      return;
    }
    setImmediate(() => {
      this.deliver(data);
      cb();
    });
  }

  /** Stops delivery; messages and their callbacks wait until `release`. */
  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const [data, cb] of held) {
      this.deliver(data);
      cb();
    }
  }

  /** From now on every send fails, as on a closed socket. */
  break(): void {
    this.broken = true;
  }
}

/**
 * A Session whose streams are Duplexes (duplex.ts), the way pipes and Node's HTTP client use them:
 * `openStream` and "stream" both give a StreamDuplex. The session underneath is the real one.
 */
export type TestSession = Omit<Session, "openStream" | "on"> & {
  openStream(): StreamDuplex;
  on(event: "stream", fn: (s: StreamDuplex) => void): TestSession;
  on(event: "close", fn: (err?: SessionClosedError) => void): TestSession;
  on(event: "goaway", fn: (code: number) => void): TestSession;
};

export function duplexes(session: Session): TestSession {
  const open = session.openStream.bind(session);
  const emit = session.emit.bind(session) as (event: string, ...args: unknown[]) => boolean;
  Object.assign(session, {
    openStream: () => new StreamDuplex(open()),
    emit: (event: string, ...args: unknown[]) => {
      if (event !== "stream") return emit(event, ...args);
      // As a real owner would: with nobody listening the stream is reset by the session.
      if (session.listenerCount("stream") === 0) return false;
      return emit("stream", new StreamDuplex(args[0] as YamuxStream));
    },
  });
  return session as unknown as TestSession;
}

export interface SessionPair {
  opener: TestSession;
  acceptor: TestSession;
  /** opener → acceptor */
  up: Wire;
  /** acceptor → opener */
  down: Wire;
}

export function sessionPair(
  openerConfig: Partial<YamuxConfig> = {},
  acceptorConfig: Partial<YamuxConfig> = {},
): SessionPair {
  const { opener, acceptor, up, down } = rawSessionPair(openerConfig, acceptorConfig);
  return { opener: duplexes(opener), acceptor: duplexes(acceptor), up, down };
}

/** Two Sessions as `sessionPair` joins them, their streams as they are (the handler API). */
export function rawSessionPair(
  openerConfig: Partial<YamuxConfig> = {},
  acceptorConfig: Partial<YamuxConfig> = {},
): { opener: Session; acceptor: Session; up: Wire; down: Wire } {
  const up = new Wire();
  const down = new Wire();
  const opener = new Session(up, "opener", { keepAliveIntervalMs: 0, ...openerConfig });
  const acceptor = new Session(down, "acceptor", { keepAliveIntervalMs: 0, ...acceptorConfig });
  up.deliver = (d) => acceptor.receive(d);
  down.deliver = (d) => opener.receive(d);
  return { opener, acceptor, up, down };
}

/** A Session whose remote is the test itself: it sees raw frames and writes raw bytes. */
export interface RawRemote {
  session: TestSession;
  wire: Wire;
  /** Inbound streams, each with an error listener as a real owner would have. */
  streams: StreamDuplex[];
  closed: Promise<SessionClosedError | undefined>;
}

export function rawRemote(role: "opener" | "acceptor", config: Partial<YamuxConfig> = {}): RawRemote {
  const wire = new Wire();
  wire.record = true;
  const session = duplexes(new Session(wire, role, { keepAliveIntervalMs: 0, ...config }));
  const streams: StreamDuplex[] = [];
  session.on("stream", (s) => {
    s.on("error", () => {});
    streams.push(s);
  });
  const closed = once(session, "close").then(([err]) => err as SessionClosedError | undefined);
  return { session, wire, streams, closed };
}

export interface Frame {
  version: number;
  type: number;
  flags: number;
  streamId: number;
  length: number;
  body: Buffer;
}

/** Builds one raw frame, with no validation (so tests can build bad ones). */
export function frame(type: number, flags: number, streamId: number, length: number, body?: Buffer): Buffer {
  const h = Buffer.alloc(HEADER_LENGTH);
  h[0] = 0;
  h[1] = type;
  h.writeUInt16BE(flags, 2);
  h.writeUInt32BE(streamId >>> 0, 4);
  h.writeUInt32BE(length >>> 0, 8);
  return body ? Buffer.concat([h, body]) : h;
}

/** Splits a byte stream into frames (data frames carry their body). */
export function parseFrames(bytes: Buffer): Frame[] {
  const out: Frame[] = [];
  let off = 0;
  while (off + HEADER_LENGTH <= bytes.byteLength) {
    const type = bytes[off + 1]!;
    const length = bytes.readUInt32BE(off + 8);
    const bodyLen = type === 0 ? length : 0;
    out.push({
      version: bytes[off]!,
      type,
      flags: bytes.readUInt16BE(off + 2),
      streamId: bytes.readUInt32BE(off + 4),
      length,
      body: bytes.subarray(off + HEADER_LENGTH, off + HEADER_LENGTH + bodyLen),
    });
    off += HEADER_LENGTH + bodyLen;
  }
  return out;
}

/** Resolves once every message sent so far on `wire` has gone through the event loop. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

/** Reads a stream's readable side to its end, leaving the writable side alone. */
export function readAll(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("error", reject);
  });
}

/** Opens a stream on `opener` and resolves with both of its ends once `acceptor` has it. */
export async function openBoth(
  opener: TestSession,
  acceptor: TestSession,
): Promise<{ s: StreamDuplex; r: StreamDuplex }> {
  const accepted = nextStream(acceptor);
  const s = opener.openStream();
  return { s, r: await accepted };
}

/** Resolves with the next inbound stream of `session`. */
export async function nextStream(session: TestSession): Promise<StreamDuplex> {
  const [s] = await once(session as unknown as Session, "stream");
  return s as unknown as StreamDuplex;
}

/**
 * Runs event-loop turns until `pred` holds; fails after `maxTurns` (a bounded loop, not a clock).
 */
export async function until(pred: () => boolean, what: string, maxTurns = 5_000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (pred()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`gave up waiting for: ${what}`);
}
