/**
 * The stream's own API, as the relay's and the peer's request paths use it (no Duplex): one
 * handler, data held while paused or unattached, credit only for delivered bytes, write
 * backpressure and drain, FIN after queued data, and exactly one close with its reason.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { INITIAL_WINDOW } from "../../src/yamux/frame.ts";
import { type Session, SessionClosedError } from "../../src/yamux/session.ts";
import { type StreamHandler, StreamResetError, type YamuxStream } from "../../src/yamux/stream.ts";
import { rawSessionPair, settle, until } from "./pipe.ts";

/** A handler that records everything it is told. */
class Recorder implements StreamHandler {
  chunks: Buffer[] = [];
  ended = 0;
  drained = 0;
  closes: Array<Error | undefined> = [];
  /** Set while a handler call is running, to see that close never comes from inside one. */
  inside = false;
  closedInside = false;
  data(c: Buffer): void {
    this.inside = true;
    this.chunks.push(c);
    this.inside = false;
  }
  end(): void {
    this.ended++;
  }
  drain(): void {
    this.drained++;
  }
  close(err: Error | undefined): void {
    if (this.inside) this.closedInside = true;
    this.closes.push(err);
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

async function accept(session: Session): Promise<YamuxStream> {
  const [s] = await once(session, "stream");
  return s as YamuxStream;
}

const window = INITIAL_WINDOW;

/** A stream opened on one side and accepted on the other, a Recorder on each, one byte sent. */
async function connected() {
  const pair = rawSessionPair();
  const accepted = accept(pair.acceptor);
  const s = pair.opener.openStream();
  const a = new Recorder();
  s.attach(a);
  s.write("x");
  const r = await accepted;
  const b = new Recorder();
  r.attach(b);
  return { ...pair, s, a, r, b };
}

describe("stream handler API", () => {
  it("holds data that arrives before a handler is attached and delivers it in order on attach", async () => {
    const { opener, acceptor } = rawSessionPair();
    const accepted = accept(acceptor);
    const s = opener.openStream();
    s.attach(new Recorder());
    s.write("one;");
    s.write("two;");
    s.end("three");
    const r = await accepted;
    await until(() => r.readableEnded === false && r.readableLength === 13, "all bytes held");
    const rec = new Recorder();
    r.attach(rec);
    expect(rec.bytes.toString()).toBe("one;two;three");
    expect(rec.ended).toBe(1);
  });

  it("a paused stream holds data and its credit: the sender stops at one window, then resumes", async () => {
    const { opener, acceptor, up } = rawSessionPair({}, { maxStreamWindow: window });
    const accepted = accept(acceptor);
    const s = opener.openStream();
    const sent = new Recorder();
    s.attach(sent);
    const payload = randomBytes(3 * window);
    // Borrowed, so the first window is copied into the SYN's message (an owned one leaves on its own).
    expect(s.write(payload, true)).toBe(false);
    const r = await accepted;
    const rec = new Recorder();
    r.attach(rec); // takes what came with the SYN
    const first = rec.bytes.byteLength;
    expect(first).toBeGreaterThan(0);
    r.pause();
    await until(() => s.sendWindow === 0 && first + r.readableLength === window, "one window held");
    const moved = up.bytes;
    await settle();
    expect(up.bytes).toBe(moved); // nothing more crosses while the window is held
    expect(rec.bytes.byteLength).toBe(first);
    expect(sent.drained).toBe(0);
    r.resume();
    s.end();
    await until(() => rec.ended === 1, "the rest arrives");
    expect(rec.bytes.equals(payload)).toBe(true);
    expect(sent.drained).toBe(1);
  });

  it("write returns false at the window and drain comes once the remote credits; FIN goes after the data", async () => {
    const { opener, acceptor } = rawSessionPair({}, { maxStreamWindow: window });
    const accepted = accept(acceptor);
    const s = opener.openStream();
    const sent = new Recorder();
    s.attach(sent);
    expect(s.write(randomBytes(window - 1))).toBe(true);
    expect(s.write(Buffer.alloc(10, 7))).toBe(false);
    s.end("tail"); // queued behind the data the window holds back
    expect(s.writableEnded).toBe(true);
    const r = await accepted;
    const rec = new Recorder();
    r.attach(rec);
    await until(() => rec.ended === 1, "data then FIN");
    expect(rec.bytes.byteLength).toBe(window - 1 + 10 + 4);
    expect(rec.bytes.subarray(-14).toString("latin1")).toBe(`${"\u0007".repeat(10)}tail`);
    expect(sent.drained).toBe(1);
    expect(s.write("late")).toBe(false); // nothing after FIN
  });

  it("a borrowed write keeps a copy of what the window holds back: the caller may reuse its buffer", async () => {
    const { opener, acceptor } = rawSessionPair({}, { maxStreamWindow: window });
    const accepted = accept(acceptor);
    const s = opener.openStream();
    s.attach(new Recorder());
    const shared = randomBytes(2 * window); // one read buffer, as the peer's local sockets share one
    const first = Buffer.from(shared);
    expect(s.write(shared, true)).toBe(false); // one window goes out; the rest waits
    shared.fill(0xee); // the next read lands in the same buffer
    const second = randomBytes(window);
    second.copy(shared);
    expect(s.write(shared.subarray(0, window), true)).toBe(false); // queued behind the rest
    shared.fill(0xdd);
    s.end();
    const r = await accepted;
    const rec = new Recorder();
    r.attach(rec);
    await until(() => rec.ended === 1, "all bytes, then FIN");
    expect(rec.bytes.equals(Buffer.concat([first, second]))).toBe(true);
  });

  it("closes once, cleanly, after both FINs, and never from inside a handler call", async () => {
    const { opener, acceptor } = rawSessionPair();
    const accepted = accept(acceptor);
    const s = opener.openStream();
    const a = new Recorder();
    s.attach(a);
    s.end("ping");
    const r = await accepted;
    const b = new Recorder();
    r.attach({
      data: (c) => b.data(c),
      end: () => {
        b.inside = true;
        b.end();
        r.end("pong"); // both FINs are now sent or seen: the stream is done inside this call
        b.inside = false;
      },
      drain: () => b.drain(),
      close: (err) => b.close(err),
    });
    await until(() => a.closes.length === 1 && b.closes.length === 1, "both ends close");
    expect(a.closes).toEqual([undefined]);
    expect(b.closes).toEqual([undefined]);
    expect(b.closedInside).toBe(false);
    expect(a.bytes.toString()).toBe("pong");
    expect(b.bytes.toString()).toBe("ping");
    expect(opener.streamCount + acceptor.streamCount).toBe(0);
    await settle();
    expect(a.closes.length + b.closes.length).toBe(2);
  });

  it("a reset reaches the other end's handler as StreamResetError, and its own with one too", async () => {
    const { s, a, r, b } = await connected();
    s.destroy();
    s.destroy(); // a second destroy sends nothing and closes nothing
    await until(() => b.closes.length === 1 && a.closes.length === 1, "both closed");
    expect(b.closes[0]).toBeInstanceOf(StreamResetError);
    expect(a.closes[0]).toBeInstanceOf(StreamResetError);
    expect(r.destroyed && s.destroyed).toBe(true);
    expect(r.write("after")).toBe(false);
  });

  it("a session that ends fails every open stream's handler with its error", async () => {
    const { acceptor, b } = await connected();
    acceptor.transportClosed();
    await until(() => b.closes.length === 1, "closed");
    expect(b.closes[0]).toBeInstanceOf(SessionClosedError);
    expect(acceptor.streamCount).toBe(0);
  });

  it("a handler attached after the stream is gone is told so, with the reason", async () => {
    const { s, r } = await connected();
    s.destroy();
    await until(() => r.destroyed, "the reset arrives");
    const late = new Recorder();
    r.attach(late);
    expect(late.closes).toEqual([]); // not from inside attach
    await settle();
    expect(late.closes.length).toBe(1);
    expect(late.closes[0]).toBeInstanceOf(StreamResetError);
  });
});
