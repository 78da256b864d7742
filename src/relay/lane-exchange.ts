/**
 * One request of the HTTP/1.1 fast lane (h1-lane.ts) on its stream: the head and body go onto the
 * stream, the answer comes back through AnswerReader and goes to the socket as HTTP/1.1. Its head
 * is copied as the local server wrote it, without the fields forwardAnswerHead drops, plus the
 * relay's X-Request-Id, Date (when missing), Connection and Keep-Alive; its body as it came when it
 * has a Content-Length, chunked otherwise.
 */
import { MAX_REQUEST_HEAD } from "../protocol/constants.ts";
import { HTTP_ERRORS, type HttpErrorCode } from "../protocol/errors.ts";
import type { StreamHandler, YamuxStream } from "../yamux/stream.ts";
import { type AnswerEvents, AnswerReader } from "./answer-reader.ts";
import { forwardAnswerHead } from "./forward-headers.ts";
import type { LaneExchange as Exchanging, H1Lane } from "./h1-lane.ts";
import { rawError } from "./http-errors.ts";
import { type ProxyOptions, StreamGuard, trailerFields } from "./proxy.ts";

export interface LaneExchangeOptions extends Omit<ProxyOptions, "maxBodyBytes"> {
  /** The relay is draining: the answer says `Connection: close`. */
  closing: () => boolean;
  /** The exchange is over (answered, failed or cut), once. */
  done: () => void;
}

export class LaneExchange implements StreamHandler, AnswerEvents, Exchanging {
  private readonly guard: StreamGuard;
  private readonly reader: AnswerReader;
  /** The answer's head, until it leaves with the first body bytes (or on its own, next turn). */
  private head: Buffer | null = null;
  private flushing = false;
  private chunked = false;
  /** The connection may serve another request after this answer (what the head said). */
  private reuse = false;
  /** A byte of the answer went to the client. */
  private wrote = false;
  /** The whole answer went to the client. */
  private relayed = false;
  /** The whole request went onto the stream. */
  private sent = false;
  private waitingDrain = false;
  private streamFull = false;
  private over = false;

  constructor(
    private readonly lane: H1Lane,
    private readonly stream: YamuxStream,
    private readonly o: LaneExchangeOptions,
    private readonly method: string,
    head: Buffer,
  ) {
    this.guard = new StreamGuard(
      {
        ...o,
        fail: (code) => {
          o.fail(code);
          this.failed(code);
        },
      },
      stream,
    );
    this.reader = new AnswerReader(method, this, MAX_REQUEST_HEAD);
    stream.attach(this);
    stream.write(head);
  }

  // --- The request: lane → stream ---

  body(chunk: Buffer): boolean {
    this.o.ex.bytesIn += chunk.length;
    if (this.guard.over) return true;
    if (this.stream.write(chunk)) return true;
    this.streamFull = true;
    return false;
  }

  bodyEnd(): void {
    this.sent = true;
    if (!this.guard.over) this.guard.startClock();
  }

  socketDrained(): void {
    if (!this.waitingDrain) return;
    this.waitingDrain = false;
    this.stream.resume();
  }

  gone(): void {
    this.guard.end();
    if (!this.relayed || !this.sent) this.guard.reset();
    if (!this.wrote) this.o.ex.status = 499;
    this.finish();
  }

  // --- StreamHandler: the answer's bytes ---

  data(c: Buffer): void {
    if (this.reader.done) return;
    const socket = this.lane.socket;
    socket.cork();
    try {
      this.reader.feed(c);
    } catch {
      // Bytes that are not HTTP/1.1, or a head Node's server would not have written either.
      this.guard.abort(this.wrote ? "tunnel_error" : "bad_response");
    }
    socket.uncork();
    // A head with no body yet (an event stream, say) leaves next turn, unless its body comes first.
    if (this.head !== null && !this.flushing) {
      this.flushing = true;
      setImmediate(this.flushHead);
    }
  }

  /** The stream takes more of the request body. */
  drain(): void {
    // Not once over: the socket may be another exchange's to pause by then.
    if (this.over || !this.streamFull) return;
    this.streamFull = false;
    this.lane.resume();
  }

  end(): void {
    if (!this.reader.done && !this.reader.fin()) this.guard.abort("tunnel_error");
  }

  close(): void {
    if (!this.reader.done) this.guard.abort("tunnel_error");
  }

  // --- AnswerEvents ---

  onContinue(): void {
    // The lane takes no request with Expect: an unasked-for 100 is dropped (RFC 9110 15.2).
  }

  onHeadBytes(head: Buffer, status: number): void {
    this.guard.stopClock();
    this.reuse = this.lane.keepAlive && !this.o.closing();
    this.head = forwardAnswerHead(head, (has) => {
      let tail = `X-Request-Id: ${this.o.ex.id}\r\n`;
      if (!has.date) tail += `Date: ${httpDate()}\r\n`;
      tail += this.reuse
        ? `Connection: keep-alive\r\nKeep-Alive: ${this.lane.keepAliveField}\r\n`
        : "Connection: close\r\n";
      this.chunked = this.method !== "HEAD" && status !== 204 && status !== 304 && !has.length;
      if (this.chunked) tail += "Transfer-Encoding: chunked\r\n";
      return tail;
    });
    this.o.ex.status = status;
  }

  onData(c: Buffer): void {
    this.o.ex.bytesOut += c.length;
    this.writeHead();
    if (this.chunked) {
      this.write(`${c.length.toString(16)}\r\n`);
      this.write(c);
      this.write("\r\n");
    } else this.write(c);
  }

  onEnd(trailers: string[]): void {
    this.relayed = true;
    this.guard.end();
    this.writeHead();
    if (this.chunked) {
      let last = "0\r\n";
      const kept = trailerFields(trailers);
      for (let i = 0; i < kept.length; i += 2) last += `${kept[i]}: ${kept[i + 1]}\r\n`;
      this.write(`${last}\r\n`);
    }
    // FIN for the relay's side; what else the peer sends for this exchange is discarded.
    this.stream.endQuiet();
    this.stream.resume();
    // An answer before the whole request: the rest of the request is not read (the lane closes).
    if (!this.sent) this.guard.reset();
    this.finish();
    this.lane.done(this.reuse);
  }

  // ---

  private readonly flushHead = (): void => {
    this.flushing = false;
    if (!this.over) this.writeHead();
  };

  private writeHead(): void {
    if (this.head === null) return;
    this.wrote = true;
    const head = this.head;
    this.head = null;
    this.write(head);
  }

  private write(b: Buffer | string): void {
    if (this.lane.socket.write(b) || this.waitingDrain) return;
    this.waitingDrain = true;
    this.stream.pause();
  }

  /** The relay's own error if nothing of the answer went out yet, else a cut connection. */
  private failed(code: HttpErrorCode): void {
    if (this.over) return;
    this.head = null;
    if (this.wrote) this.lane.socket.destroy();
    else {
      this.o.ex.status = HTTP_ERRORS[code].status;
      this.lane.refuse(rawError(code, { "X-Request-Id": this.o.ex.id }));
    }
    this.finish();
  }

  private finish(): void {
    if (this.over) return;
    this.over = true;
    this.o.done();
  }
}

let dateText = "";
let dateUntil = 0;
/** The Date header's value, made once per second (as Node's server does). */
function httpDate(): string {
  const now = Date.now();
  if (now >= dateUntil) {
    dateText = new Date(now).toUTCString();
    dateUntil = now - (now % 1000) + 1000;
  }
  return dateText;
}
