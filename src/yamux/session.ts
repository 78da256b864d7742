/**
 * A yamux session over a message transport (here, WebSocket binary messages). Message boundaries
 * carry no meaning: the concatenated messages form the yamux byte stream, and frames we send are
 * batched into messages of at most `maxMessageBytes`.
 */
import { EventEmitter } from "node:events";
import { Slots } from "../util/slots.ts";
import { defaultConfig, verifyConfig, type YamuxConfig } from "./config.ts";
import {
  decodeHeader,
  Flag,
  type FrameHeader,
  FrameType,
  GoAwayCode,
  HEADER_LENGTH,
  INITIAL_WINDOW,
  YamuxProtocolError,
} from "./frame.ts";
import { Outbox } from "./outbox.ts";
import { StreamResetError, YamuxStream } from "./stream.ts";
import { borrowWindow, returnWindow, SESSION_GROWTH } from "./window-budget.ts";

export interface SessionTransport {
  /**
   * Sends one message; `cb` runs once it has been handed to the socket. The session never touches
   * `data` again, so the transport may keep it (or views of it) as long as it likes.
   */
  send(data: Buffer, cb: (err?: Error | null) => void): void;
  /**
   * Holds what `send` writes until `uncork`, so that the messages of one flush leave in one socket
   * write (a handed-over piece is a message of its own, right behind the one with its header).
   */
  cork?(): void;
  uncork?(): void;
}

export type SessionRole = "opener" | "acceptor";

/** Largest stream id; a session that has opened this many streams opens no more. */
const MAX_STREAM_ID = 0xffffffff;
/** See `Session.repliesQueued`: far beyond what any honest remote makes us queue. */
const MAX_QUEUED_REPLIES = 65_536;

/** Longest a bare FIN waits for a frame to leave with (see `lazyFrame`). */
const LAZY_MS = 1;
/** A held ACK leaves once the remote has sent this much: the credit it carries must not come late. */
const ACK_RELEASE_BYTES = INITIAL_WINDOW / 2;

export class SessionClosedError extends Error {
  override name = "SessionClosedError";
  constructor(
    message: string,
    readonly reason: "protocol_error" | "keepalive_timeout" | "transport_closed" | "closed",
  ) {
    super(message);
  }
}

export interface SessionEvents {
  stream: [YamuxStream];
  goaway: [number];
  close: [SessionClosedError | undefined];
}

export class Session extends EventEmitter<SessionEvents> {
  readonly config: YamuxConfig;
  readonly maxFrameData: number;
  private readonly transport: SessionTransport;
  /**
   * Open streams by id. A dictionary object, not a Map: a Map's replaced hash tables keep streams
   * that ended young alive through scavenges once one table is old (src/util/slots.ts says more).
   */
  private readonly streams: Record<number, YamuxStream | undefined> = Object.create(null);
  private openCount = 0;
  private nextId: number;
  /** Highest stream id the remote has opened, to tell late frames from frames for unopened streams. */
  private highestRemoteId = 0;
  /** Streams the remote opened that are still in `streams` (what `maxInboundStreams` limits). */
  private inboundCount = 0;
  private closed = false;
  /** GoAway code we received, if any: no new streams may be opened. */
  remoteGoAway: number | undefined;
  localGoAway: number | undefined;

  // Outgoing: frames queued for the next messages, bytes handed to the transport but not yet written.
  private readonly out: Outbox;
  private inFlight = 0;
  /** Receive-window growth this session's streams hold (window-budget.ts). */
  private grown = 0;
  private flushScheduled = false;
  /** Set while a bare FIN waits (`lazyFrame`): up to LAZY_MS for company. */
  private lazyTimer: NodeJS.Timeout | undefined;
  /** Set while only held bare frames wait (`lazyFrame`, `held`): up to `holdBareMs`. */
  private heldTimer: NodeJS.Timeout | undefined;
  /** Messages handed to the transport so far: a held ACK is still queued while this has not moved. */
  private sent = 0;
  /** Streams whose writer waits for the transport to catch up (`waitWritable`). */
  private readonly writeWaiters = new Slots<YamuxStream>();
  /** Called whenever a stream leaves the session (finished, reset, or the session closed). */
  onStreamGone: (() => void) | undefined;

  // Incoming: a header split across messages, and the data frame body being delivered.
  private readonly hdr = Buffer.alloc(HEADER_LENGTH);
  private hdrFill = 0;
  private readonly h: FrameHeader = { type: 0, flags: 0, streamId: 0, length: 0 };
  private bodyRemaining = 0;
  private bodyStream: YamuxStream | undefined;
  private bodyFlags = 0;

  // Keepalive
  private pingTimer: NodeJS.Timeout | undefined;
  private pingId = 0;
  private pingSentAt = 0;
  private pingOutstanding = false;
  /** With `keepAliveQuietOnly`: when the last message arrived (Date.now()); it pings only after an interval of none. */
  private heardAt = Date.now();
  private quietCheck: NodeJS.Timeout | undefined;
  private pingWaiters: Array<{ resolve: (rtt: number) => void; reject: (err: Error) => void }> = [];
  /** Last measured round trip, ms; -1 before the first pong. */
  rtt = -1;
  /**
   * Frames queued only because the remote asked (pongs, RSTs for refused streams) since `out` was
   * last empty. A remote that floods such requests without reading the answers is cut off.
   */
  private repliesQueued = 0;

  constructor(transport: SessionTransport, role: SessionRole, config: Partial<YamuxConfig> = {}) {
    super();
    this.config = verifyConfig({ ...defaultConfig, ...config });
    this.maxFrameData = this.config.maxFrameData;
    this.transport = transport;
    this.out = new Outbox(this.config.maxMessageBytes, this.config.handOver);
    this.nextId = role === "opener" ? 1 : 2;
    if (this.config.keepAliveIntervalMs > 0) {
      this.pingTimer = setInterval(() => this.keepAlive(), this.config.keepAliveIntervalMs);
      this.pingTimer.unref();
    }
  }

  get streamCount(): number {
    return this.openCount;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Whether `openStream` would succeed: open, no GoAway either way, stream ids left. */
  get canOpenStreams(): boolean {
    return (
      !this.closed &&
      this.remoteGoAway === undefined &&
      this.localGoAway === undefined &&
      this.nextId <= MAX_STREAM_ID
    );
  }

  /** Opens a new stream towards the remote. Throws if the session is closed or going away. */
  openStream(): YamuxStream {
    if (this.closed) throw new SessionClosedError("session is closed", "closed");
    if (this.remoteGoAway !== undefined || this.localGoAway !== undefined)
      throw new SessionClosedError("session is going away", "closed");
    // Ids are 32 bits and never reused: a session that has used them all must be replaced.
    if (this.nextId > MAX_STREAM_ID) throw new SessionClosedError("stream ids exhausted", "closed");
    const id = this.nextId;
    this.nextId += 2;
    const stream = new YamuxStream(this, id, this.config.maxStreamWindow);
    this.streams[id] = stream;
    this.openCount++;
    this.frame(FrameType.WindowUpdate, Flag.SYN, id, stream.initialCredit());
    return stream;
  }

  /** Feeds bytes received from the transport. */
  receive(chunk: Buffer): void {
    if (this.config.keepAliveQuietOnly) this.heardAt = Date.now();
    let off = 0;
    const len = chunk.length;
    try {
      while (off < len && !this.closed) {
        if (this.bodyRemaining > 0) {
          const n = Math.min(this.bodyRemaining, len - off);
          this.bodyRemaining -= n;
          // A small piece of a large message is copied: a view would keep the whole message alive
          // for as long as the piece sits in a paused stream's buffer.
          if (this.bodyStream) {
            const piece = chunk.subarray(off, off + n);
            this.bodyStream.onData(n * 8 < len ? Buffer.from(piece) : piece);
          }
          off += n;
          if (this.bodyRemaining === 0) this.endBody();
          continue;
        }
        if (this.hdrFill === 0 && len - off >= HEADER_LENGTH) {
          this.handleHeader(chunk, off);
          off += HEADER_LENGTH;
          continue;
        }
        const n = Math.min(HEADER_LENGTH - this.hdrFill, len - off);
        chunk.copy(this.hdr, this.hdrFill, off, off + n);
        this.hdrFill += n;
        off += n;
        if (this.hdrFill === HEADER_LENGTH) {
          this.hdrFill = 0;
          this.handleHeader(this.hdr, 0);
        }
      }
    } catch (err) {
      if (err instanceof YamuxProtocolError) this.protocolError(err.message);
      else throw err;
    }
  }

  /** Sends a ping and resolves with the round trip in ms; one ping is in flight at a time. */
  ping(): Promise<number> {
    if (this.closed) return Promise.reject(new SessionClosedError("session is closed", "closed"));
    return new Promise((resolve, reject) => {
      this.pingWaiters.push({ resolve, reject });
      if (!this.pingOutstanding) this.sendPing();
    });
  }

  /** Sends GoAway: no new streams from either side; open streams run to completion. */
  goAway(code: number): void {
    if (this.closed || this.localGoAway !== undefined) return;
    this.localGoAway = code;
    this.frame(FrameType.GoAway, 0, 0, code);
  }

  /** The transport closed: every open stream fails. */
  transportClosed(): void {
    this.close(new SessionClosedError("transport closed", "transport_closed"));
  }

  /** Ends the session at once, failing open streams with `err`. */
  close(err?: SessionClosedError): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.quietCheck) clearTimeout(this.quietCheck);
    clearTimeout(this.lazyTimer);
    clearTimeout(this.heldTimer);
    const failure = err ?? new SessionClosedError("session closed", "closed");
    // Each stream forgets itself (`forget`), which empties `streams` and `writeWaiters`.
    for (const s of Object.values(this.streams)) s?.onSessionClosed(failure);
    for (const w of this.pingWaiters.splice(0)) w.reject(failure);
    this.out.clear();
    this.checkIdle();
    this.emit("close", err);
  }

  /** Resolves when everything queued so far has been handed to the transport. */
  flushed(): Promise<void> {
    if (this.out.bytes === 0 && this.inFlight === 0) return Promise.resolve();
    // Held frames go now: nothing else may be coming to carry them.
    if (this.heldTimer !== undefined) this.scheduleFlush();
    return new Promise((resolve) => this.whenIdle(resolve));
  }

  // --- Used by streams ---

  /** Whether an owned data frame of `n` bytes would be sent as is, not copied. */
  handsOver(n: number): boolean {
    return this.out.handsOver(Math.min(n, this.maxFrameData));
  }

  /**
   * Queues a data frame carrying `chunk[start, end)`. Unless `owned` (the caller never changes the
   * chunk again), it is copied and the chunk is free once this returns; an owned chunk may be sent
   * as is (Outbox.data).
   */
  sendData(id: number, chunk: Buffer, start: number, end: number, owned = false): void {
    if (this.closed) return;
    this.out.header(FrameType.Data, 0, id, end - start);
    this.out.data(chunk, start, end, owned);
    this.scheduleFlush();
  }

  sendWindowUpdate(id: number, delta: number): void {
    this.frame(FrameType.WindowUpdate, 0, id, delta);
  }

  /** `held`: the remote waits for nothing this FIN tells it (see `lazyFrame`). */
  sendFin(id: number, held = false): void {
    this.lazyFrame(FrameType.WindowUpdate, Flag.FIN, id, 0, held);
  }

  sendRst(id: number): void {
    this.frame(FrameType.WindowUpdate, Flag.RST, id, 0);
  }

  /** Whether the transport keeps up: less than the high-water mark queued or in flight. */
  get writable(): boolean {
    return !this.closed && this.out.bytes + this.inFlight < this.config.writeHighWaterMark;
  }

  /** Calls `stream.onWritable()` once the transport catches up. */
  waitWritable(stream: YamuxStream): void {
    if (!this.closed) this.writeWaiters.add(stream);
  }

  forget(stream: YamuxStream): void {
    if (this.streams[stream.id] !== stream) return;
    delete this.streams[stream.id];
    this.openCount--;
    this.writeWaiters.remove(stream);
    this.returnGrowth(stream.takeGrowth());
    if (stream.id % 2 !== this.nextId % 2) this.inboundCount--;
    this.onStreamGone?.();
  }

  /** Window growth for one of this session's streams: SESSION_GROWTH in all, within the process budget. */
  borrowGrowth(want: number): number {
    const n = borrowWindow(Math.min(want, SESSION_GROWTH - this.grown));
    this.grown += n;
    return n;
  }

  returnGrowth(n: number): void {
    this.grown -= n;
    returnWindow(n);
  }

  // --- Internals ---

  private handleHeader(buf: Buffer, off: number): void {
    const h = decodeHeader(buf, off, this.h);
    switch (h.type) {
      case FrameType.Data:
      case FrameType.WindowUpdate:
        return this.handleStreamFrame(h.type, h.flags, h.streamId, h.length);
      case FrameType.Ping:
        return this.handlePing(h.flags, h.streamId, h.length);
      case FrameType.GoAway:
        if (h.streamId !== 0) throw new YamuxProtocolError("GoAway on a stream");
        this.remoteGoAway = h.length;
        this.emit("goaway", h.length);
        return;
    }
  }

  private handleStreamFrame(type: number, flags: number, id: number, length: number): void {
    if (id === 0) throw new YamuxProtocolError("stream frame on stream 0");
    let stream = this.streams[id];
    if (flags & Flag.SYN) {
      if (!this.acceptSyn(id)) {
        stream = undefined; // refused: discard the body, if any
      } else {
        stream = new YamuxStream(this, id, this.config.maxStreamWindow);
        this.streams[id] = stream;
        this.openCount++;
        this.inboundCount++;
        // The opener needs nothing from the ACK but its credit: it is held for the stream's first
        // frame back (the response), or until the opener has sent enough to need the credit.
        this.lazyFrame(FrameType.WindowUpdate, Flag.ACK, id, stream.initialCredit(), true);
        stream.ackQueuedAt = this.sent;
        // Handed over at once, so its owner is listening before any later frame (an RST in the
        // same message) can fail it. With nobody to hand it to, it is reset.
        if (!this.emit("stream", stream)) stream.destroy();
      }
    } else if (!stream && !this.wasOpened(id)) {
      throw new YamuxProtocolError(`frame for stream ${id}, which was never opened`);
    }
    if (type === FrameType.WindowUpdate) {
      if (stream) {
        if (length > 0 && !stream.onWindowUpdate(length))
          throw new YamuxProtocolError(`stream ${id} send window grew past 2^32-1`);
        this.applyEndFlags(stream, flags);
      }
      return;
    }
    // Data frame: check the window before any byte is buffered. A frame for a stream that is gone
    // is discarded, but it can still never be larger than any window we grant.
    if (stream ? !stream.reserve(length) : length > this.config.maxStreamWindow)
      throw new YamuxProtocolError(`stream ${id} exceeded its receive window`);
    if (
      stream?.ackQueuedAt === this.sent &&
      stream.receiveWindow - stream.recvWindow >= ACK_RELEASE_BYTES &&
      this.heldTimer !== undefined
    )
      this.scheduleFlush();
    this.bodyStream = stream;
    this.bodyFlags = flags;
    this.bodyRemaining = length;
    if (length === 0) this.endBody();
  }

  private endBody(): void {
    const stream = this.bodyStream;
    this.bodyStream = undefined;
    if (stream) this.applyEndFlags(stream, this.bodyFlags);
  }

  private applyEndFlags(stream: YamuxStream, flags: number): void {
    if (flags & Flag.RST) {
      this.forget(stream);
      stream.onRemoteReset();
    } else if (flags & Flag.FIN) {
      stream.onRemoteFin();
    }
  }

  /** Whether the remote may open stream `id` now; sends RST when it may not. */
  private acceptSyn(id: number): boolean {
    const remoteParity = this.nextId % 2 === 1 ? 0 : 1;
    if (id % 2 !== remoteParity) throw new YamuxProtocolError(`remote opened stream ${id} with our parity`);
    if (id <= this.highestRemoteId) throw new YamuxProtocolError(`stream id ${id} reused`);
    this.highestRemoteId = id;
    if (
      !this.config.acceptStreams ||
      this.localGoAway !== undefined ||
      this.inboundCount >= this.config.maxInboundStreams
    ) {
      this.reply(FrameType.WindowUpdate, Flag.RST, id, 0);
      return false;
    }
    return true;
  }

  /** Whether `id` is a stream that was opened at some point (so a late frame is not an error). */
  private wasOpened(id: number): boolean {
    const ours = id % 2 === this.nextId % 2;
    return ours ? id < this.nextId : id <= this.highestRemoteId;
  }

  private handlePing(flags: number, streamId: number, opaque: number): void {
    if (streamId !== 0) throw new YamuxProtocolError("ping on a stream");
    if (flags & Flag.SYN) {
      this.reply(FrameType.Ping, Flag.ACK, 0, opaque);
    } else if (flags & Flag.ACK) {
      if (this.pingOutstanding && opaque === this.pingId) {
        this.pingOutstanding = false;
        this.rtt = Date.now() - this.pingSentAt;
        for (const w of this.pingWaiters.splice(0)) w.resolve(this.rtt);
      }
    } else {
      throw new YamuxProtocolError("ping without SYN or ACK");
    }
  }

  private sendPing(): void {
    this.pingId = (this.pingId + 1) >>> 0;
    this.pingOutstanding = true;
    this.pingSentAt = Date.now();
    this.frame(FrameType.Ping, Flag.SYN, 0, this.pingId);
  }

  private keepAlive(): void {
    if (this.closed) return;
    if (this.pingOutstanding) {
      if (Date.now() - this.pingSentAt >= this.config.keepAliveTimeoutMs) {
        this.close(new SessionClosedError("keepalive timeout", "keepalive_timeout"));
      }
      return;
    }
    const quiet = Date.now() - this.heardAt;
    if (this.config.keepAliveQuietOnly && quiet < this.config.keepAliveIntervalMs) {
      // Heard from lately: look again when the interval since then is up, not a whole tick later.
      this.quietCheck ??= setTimeout(() => {
        this.quietCheck = undefined;
        this.keepAlive();
      }, this.config.keepAliveIntervalMs - quiet).unref();
      return;
    }
    this.sendPing();
    // Check again once the timeout has passed, even if that is before the next interval.
    setTimeout(() => {
      if (this.pingOutstanding) this.keepAlive();
    }, this.config.keepAliveTimeoutMs + 1).unref();
  }

  /** Queues a frame the remote asked for; see `repliesQueued`. */
  private reply(type: number, flags: number, id: number, length: number): void {
    if (++this.repliesQueued > MAX_QUEUED_REPLIES)
      throw new YamuxProtocolError("remote floods requests without reading the replies");
    this.frame(type, flags, id, length);
  }

  private protocolError(message: string): void {
    if (this.closed) return;
    this.goAway(GoAwayCode.ProtocolError);
    this.flushNow();
    this.close(new SessionClosedError(message, "protocol_error"));
  }

  /** Queues a frame without a body. */
  private frame(type: number, flags: number, id: number, length: number): void {
    if (this.closed) return;
    this.out.header(type, flags, id, length);
    this.scheduleFlush();
  }

  /**
   * Queues a bare ACK or FIN. It leaves with the next frame that must go at once (the answer's
   * first bytes, the next request), or after LAZY_MS: a message, a write and a wake-up of the
   * other side saved per request when they are not batched anyway. A `held` frame is one the remote
   * waits for nothing from (an ACK, whose credit goes out early when needed; a FIN after a finished
   * exchange): it waits up to `holdBareMs`, so it leaves with the next request or response even on
   * a tunnel that carries one at a time.
   */
  private lazyFrame(type: number, flags: number, id: number, length: number, held = false): void {
    if (this.closed) return;
    // Someone waits for everything to be written (`flushed`): nothing is held from them.
    if (this.idleWaiters.length > 0) held = false;
    // Queued bytes with no flush or timer coming: a backlog held back by the transport, whose send
    // callback carries the frame.
    const backlog = this.out.bytes > 0 && this.heldTimer === undefined;
    this.out.header(type, flags, id, length);
    if (backlog || this.flushScheduled || this.lazyTimer !== undefined) return;
    if (!held) this.lazyTimer = setTimeout(this.flush, LAZY_MS);
    // Unreferenced: a frame nobody waits for never keeps the process alive.
    else this.heldTimer ??= setTimeout(this.flush, this.config.holdBareMs).unref();
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.lazyTimer !== undefined) {
      clearTimeout(this.lazyTimer);
      this.lazyTimer = undefined;
    }
    if (this.heldTimer !== undefined) {
      clearTimeout(this.heldTimer);
      this.heldTimer = undefined;
    }
    this.flushNow();
  };

  /**
   * Sends what is queued, up to the high-water mark. Several messages go to a corked socket, so they
   * leave in one write; the first then waits for the last to be ready (on a Noise link, encrypted).
   */
  private flushNow(): void {
    const cork = this.out.several() && this.transport.cork !== undefined;
    if (cork) this.transport.cork!();
    try {
      this.sendQueued();
    } finally {
      if (cork) this.transport.uncork!();
    }
    if (this.out.bytes === 0) this.repliesQueued = 0;
    this.releaseWriters();
  }

  private sendQueued(): void {
    while (this.inFlight < this.config.writeHighWaterMark) {
      const msg = this.out.take();
      if (msg === undefined) break;
      const size = msg.length;
      this.inFlight += size;
      this.sent++;
      this.transport.send(msg, (err) => {
        this.inFlight -= size;
        if (err) return this.transportClosed();
        if (
          this.out.bytes > 0 &&
          !this.flushScheduled &&
          this.lazyTimer === undefined &&
          this.heldTimer === undefined
        )
          this.flushNow();
        this.releaseWriters();
        this.checkIdle();
      });
    }
  }

  private releaseWriters(): void {
    if (this.writeWaiters.size === 0 || !this.writable) return;
    for (const s of this.writeWaiters.drain()) s.onWritable();
  }

  private idleWaiters: Array<() => void> = [];
  private whenIdle(cb: () => void): void {
    this.idleWaiters.push(cb);
  }

  private checkIdle(): void {
    const idle = this.out.bytes === 0 && this.inFlight === 0;
    if (idle) this.out.idle();
    if (this.idleWaiters.length > 0 && (this.closed || idle)) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}

export { GoAwayCode, StreamResetError };
