/**
 * An in-memory byte pipe that joins yamux endpoints of either kind: our Session (a
 * SessionTransport) or a `@libp2p/yamux` muxer (fed through a MultiaddrConnection). Each message is
 * delivered on a later event-loop turn, in order, as a socket would. Used by the interop tests and
 * by bench/yamux-micro.ts, so both libraries run over exactly the same pipe.
 */
import type { Logger, MultiaddrConnection, StreamMuxer } from "@libp2p/interface";
import { AbstractMultiaddrConnection, type SendResult } from "@libp2p/utils";
import { yamux } from "@libp2p/yamux";
import type { Uint8ArrayList } from "uint8arraylist";
import type { YamuxConfig } from "../../src/yamux/config.ts";
import { Session, type SessionRole } from "../../src/yamux/session.ts";
import { duplexes, type TestSession } from "./pipe.ts";

// @libp2p/yamux 8 calls Promise.withResolvers, which Node 20 lacks (Node 22 has it).
if (typeof Promise.withResolvers !== "function") {
  Object.defineProperty(Promise, "withResolvers", {
    configurable: true,
    writable: true,
    value: <T>() => {
      let resolve!: (v: T | PromiseLike<T>) => void;
      let reject!: (e?: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

const silentLog: Logger = Object.assign(() => {}, {
  error: () => {},
  trace: () => {},
  enabled: false,
  newScope: () => silentLog,
});

/** One end of the pipe: where bytes sent by the other end arrive. */
type Deliver = (data: Uint8Array) => void;

/** A MultiaddrConnection over the pipe, for a libp2p muxer. */
class PipeConnection extends AbstractMultiaddrConnection {
  /** Set once the other end exists. */
  peer: Deliver = () => {};
  /** Bytes handed to the pipe in this direction. */
  bytesSent = 0;

  constructor(direction: "inbound" | "outbound") {
    super({
      log: silentLog,
      direction,
      // Only used for logging and metrics, neither of which is on here.
      remoteAddr: {} as MultiaddrConnection["remoteAddr"],
      inactivityTimeout: 0,
    });
  }

  sendData(data: Uint8ArrayList): SendResult {
    const bytes = data.subarray();
    this.bytesSent += bytes.byteLength;
    setImmediate(this.peer, bytes);
    return { sentBytes: data.byteLength, canSendMore: true };
  }

  sendReset(): void {}
  async sendClose(): Promise<void> {}
  sendPause(): void {}
  sendResume(): void {}

  /** Bytes from the other end. */
  deliver: Deliver = (data) => {
    if (this.status === "open") this.onData(data);
  };
}

export interface Endpoint<T> {
  muxer: T;
  /** What the other end's bytes go to. */
  deliver: Deliver;
  /** Connects this end's output to the other end. */
  connect(peer: Deliver): void;
}

/** Our Session as one end of the pipe, its streams as Duplexes (see `duplexes`). */
export function ourEnd(role: SessionRole, config: Partial<YamuxConfig> = {}): Endpoint<TestSession> {
  const end = ourRawEnd(role, config);
  return { ...end, muxer: duplexes(end.muxer) };
}

/** Our Session as one end of the pipe, its streams as they are (the handler API). */
export function ourRawEnd(role: SessionRole, config: Partial<YamuxConfig> = {}): Endpoint<Session> {
  let peer: Deliver = () => {};
  const session = new Session(
    {
      send(data, cb) {
        setImmediate(() => {
          peer(data);
          cb();
        });
      },
    },
    role,
    { keepAliveIntervalMs: 0, ...config },
  );
  return {
    muxer: session,
    deliver: (data) => session.receive(Buffer.from(data.buffer, data.byteOffset, data.byteLength)),
    connect: (p) => {
      peer = p;
    },
  };
}

/** A `@libp2p/yamux` muxer as one end of the pipe. "outbound" is the client (odd stream ids). */
export function libp2pEnd(
  direction: "inbound" | "outbound",
  init: Parameters<typeof yamux>[0] = {},
): Endpoint<StreamMuxer> {
  const conn = new PipeConnection(direction);
  const muxer = yamux({ enableKeepAlive: false, ...init })().createStreamMuxer(conn);
  return {
    muxer,
    deliver: conn.deliver,
    connect: (p) => {
      conn.peer = p;
    },
  };
}

/** Joins two ends. */
export function join<A, B>(a: Endpoint<A>, b: Endpoint<B>): { a: A; b: B } {
  a.connect(b.deliver);
  b.connect(a.deliver);
  return { a: a.muxer, b: b.muxer };
}
