/**
 * Reads the peer's HTTP/1.1 response off a stream (spec/PROTOCOL.md, "Stream contents"): interim
 * heads, the final head, then the body out of its framing, with trailers. Replaces Node's HTTP
 * client on the data path, which costs a request object, a parser and two streams per request.
 */
import {
  type BodyScanner,
  ChunkedBody,
  FramingError,
  HeadCollector,
  parseResponseHead,
  UntilClose,
} from "../protocol/http1-framing.ts";

export interface AnswerEvents {
  /** `100 Continue`. Other interim responses (102, 103) are dropped, as Node's client drops them. */
  onContinue(): void;
  /** The final head, parsed. A handler has this or `onHeadBytes`. */
  onHead?(status: number, reason: string, headers: string[]): void;
  /**
   * Instead of `onHead`: the final head's bytes (status line to the last header line,
   * without the final CRLF CRLF; a view valid during the call) and its status, unparsed past framing.
   */
  onHeadBytes?(head: Buffer, status: number): void;
  onData(chunk: Buffer): void;
  /** The answer is complete; `trailers` is a raw list (name, value, ...). */
  onEnd(trailers: string[]): void;
}

export class AnswerReader {
  private readonly head: HeadCollector;
  private body: BodyScanner | null = null;
  private over = false;
  private readonly sink = (buf: Buffer, start: number, end: number): void =>
    this.ev.onData(start === 0 && end === buf.length ? buf : buf.subarray(start, end));

  constructor(
    private readonly method: string,
    private readonly ev: AnswerEvents,
    /** Longest head accepted. */
    maxHead: number,
  ) {
    this.head = new HeadCollector(maxHead);
  }

  /** Whether the whole answer has been read. */
  get done(): boolean {
    return this.over;
  }

  /** Takes the next bytes of the stream. Throws FramingError; bytes past the answer are ignored. */
  feed(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length && !this.over) {
      if (this.body === null) i = this.readHead(chunk, i);
      else {
        const end = this.body.scan(chunk, i, this.sink);
        if (end === -1) return;
        i = end;
        this.finish();
      }
    }
  }

  /** The stream ended (FIN). Returns whether that completes the answer (one read to the close). */
  fin(): boolean {
    if (this.over) return true;
    if (!(this.body instanceof UntilClose)) return false;
    this.finish();
    return true;
  }

  private readHead(chunk: Buffer, i: number): number {
    const got = this.head.take(chunk, i);
    if (got === null) return chunk.length;
    const next = got.next;
    const raw = this.ev.onHeadBytes !== undefined;
    const h = parseResponseHead(got.head, this.method, !raw, true);
    if (h.upgrade) throw new FramingError("101 for a request that asked for no upgrade");
    if (h.interim) {
      if (h.status === 100) this.ev.onContinue();
      return next;
    }
    if (raw) this.ev.onHeadBytes!(got.head, h.status);
    else this.ev.onHead!(h.status, h.reason, h.headers!);
    if (h.body === null) this.finish();
    else this.body = h.body;
    return next;
  }

  private finish(): void {
    this.over = true;
    this.ev.onEnd(this.body instanceof ChunkedBody ? this.body.trailers() : []);
  }
}
