/**
 * Two real Sessions joined by an in-memory transport: streams, half-close, reset, flow control,
 * keepalive and GoAway. Protocol violations are in protocol-errors.test.ts.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { Readable, Writable } from "node:stream";
import { describe, expect, it, vi } from "vitest";
import type { StreamDuplex } from "../../src/yamux/duplex.ts";
import { Flag, FrameType, GoAwayCode, INITIAL_WINDOW } from "../../src/yamux/frame.ts";
import { SessionClosedError } from "../../src/yamux/session.ts";
import { StreamResetError } from "../../src/yamux/stream.ts";
import {
  borrowWindow,
  MAX_STREAM_WINDOW,
  returnWindow,
  SESSION_GROWTH,
  windowLent,
} from "../../src/yamux/window-budget.ts";
import { nextStream, openBoth, parseFrames, readAll, sessionPair, settle, until } from "./pipe.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

describe("streams", () => {
  it("opens, accepts and carries data both ways; the acceptor half-closes first", async () => {
    const { opener, acceptor } = sessionPair();
    const { s, r } = await openBoth(opener, acceptor);
    expect(r.id).toBe(s.id);
    s.write("hello");
    const fromAcceptor = readAll(s);
    r.end("from the acceptor");
    expect((await fromAcceptor).toString()).toBe("from the acceptor");
    // The opener's write side is still open after the acceptor's FIN.
    const fromOpener = readAll(r);
    s.write(" after the remote FIN");
    s.end();
    expect((await fromOpener).toString()).toBe("hello after the remote FIN");
    await until(() => opener.streamCount === 0 && acceptor.streamCount === 0, "both sides forget");
  });

  it("half-closes the opener's side first and still receives the answer", async () => {
    const { opener, acceptor } = sessionPair();
    const accepted = nextStream(acceptor);
    const s = opener.openStream();
    s.end("request");
    const r = await accepted;
    expect((await readAll(r)).toString()).toBe("request");
    const answer = readAll(s);
    for (let i = 0; i < 3; i++) r.write(`part${i};`);
    r.end();
    expect((await answer).toString()).toBe("part0;part1;part2;");
    await until(() => opener.streamCount === 0 && acceptor.streamCount === 0, "both sides forget");
    expect(s.destroyed || s.writableFinished).toBe(true);
  });

  it("keeps 20 concurrent streams apart, 200 KiB each way on each", async () => {
    const { opener, acceptor } = sessionPair();
    acceptor.on("stream", (r) => {
      // Echo with a marker so a mix-up between streams would show.
      const got = readAll(r);
      void got.then((b) => r.end(Buffer.concat([Buffer.from(`${r.id}:`), b])));
    });
    const payloads = Array.from({ length: 20 }, () => randomBytes(200 * KiB));
    const answers = payloads.map((p) => {
      const s = opener.openStream();
      const answer = readAll(s);
      s.end(p);
      return answer.then((b) => ({ id: s.id, b }));
    });
    const results = await Promise.all(answers);
    results.forEach(({ id, b }, i) => {
      expect(b.subarray(0, `${id}:`.length).toString()).toBe(`${id}:`);
      expect(b.subarray(`${id}:`.length).equals(payloads[i]!)).toBe(true);
    });
    await until(() => opener.streamCount === 0 && acceptor.streamCount === 0, "both sides forget");
  });

  it("a stream opened and reset in the same turn reaches its owner as a reset, not a crash", async () => {
    // Regression: the stream used to be handed over in a microtask, after the RST in the same
    // message had already failed it with nobody listening: an uncaught error in the peer.
    const { opener, acceptor } = sessionPair();
    const errors: unknown[] = [];
    acceptor.on("stream", (r) => r.on("error", (e) => errors.push(e)));
    const s = opener.openStream();
    s.write("GET / HTTP/1.1\r\n\r\n");
    s.destroy();
    await until(() => errors.length === 1, "the reset reaches the owner");
    expect(errors[0]).toBeInstanceOf(StreamResetError);
    await until(() => opener.streamCount === 0 && acceptor.streamCount === 0, "both sides forget");
  });

  it("a reset from the opener fails the acceptor's stream, and the other way round", async () => {
    const { opener, acceptor } = sessionPair();
    const { s, r } = await openBoth(opener, acceptor);
    s.write("x");
    const failed = once(r, "error");
    s.destroy();
    const [err] = await failed;
    expect(err).toBeInstanceOf(StreamResetError);
    await until(() => opener.streamCount === 0 && acceptor.streamCount === 0, "both sides forget");

    const { s: s2, r: r2 } = await openBoth(opener, acceptor);
    s2.write("y");
    const failed2 = once(s2, "error");
    r2.destroy();
    const [err2] = await failed2;
    expect(err2).toBeInstanceOf(StreamResetError);
    await until(() => opener.streamCount === 0 && acceptor.streamCount === 0, "both sides forget");
    // Writing to a reset stream fails instead of sending.
    const late = new Promise<Error | null | undefined>((resolve) => s2.write("late", resolve));
    expect(await late).toBeInstanceOf(Error);
  });
});

describe("stream ids and buffers", () => {
  it("stops opening streams once the 32-bit ids are used up", () => {
    const { opener } = sessionPair();
    // Skipping four billion streams: jump to the last odd id.
    (opener as unknown as { nextId: number }).nextId = 0xffffffff;
    expect(opener.canOpenStreams).toBe(true);
    const last = opener.openStream();
    last.on("error", () => {}); // closing the session below fails the stream, as it should
    expect(last.id).toBe(0xffffffff);
    expect(opener.canOpenStreams).toBe(false);
    expect(() => opener.openStream()).toThrow(/exhausted/);
    opener.close();
  });

  it("a written buffer may be reused as soon as its write callback runs", async () => {
    const { opener, acceptor } = sessionPair();
    const accepted = nextStream(acceptor);
    const s = opener.openStream();
    const buf = Buffer.from("first;");
    await new Promise<void>((resolve) => s.write(buf, () => resolve()));
    buf.write("again!");
    s.end(buf);
    expect((await readAll(await accepted)).toString()).toBe("first;again!");
  });
});

describe("flow control", () => {
  it("a sender blocks at the window and resumes on window updates", async () => {
    const window = INITIAL_WINDOW;
    const { opener, acceptor, up } = sessionPair({}, { maxStreamWindow: window });
    const accepted = nextStream(acceptor);
    const s = opener.openStream();
    const payload = randomBytes(4 * window);
    let writeDone = false;
    s.write(payload, () => {
      writeDone = true;
    });
    const r = await accepted;
    // Held in the Duplex's buffer and, past its high-water mark, in the stream's own.
    const buffered = () => r.readableLength + r.stream.readableLength;
    await until(() => s.stream.sendWindow === 0 && buffered() === window, "window exhausted");
    const wireBytes = up.bytes;
    await settle();
    // Nothing more moved: exactly one window of data is buffered and the write is still pending.
    expect(up.bytes).toBe(wireBytes);
    expect(buffered()).toBe(window);
    expect(writeDone).toBe(false);

    const all = readAll(r);
    s.end();
    const got = await all;
    expect(got.equals(payload)).toBe(true);
    expect(writeDone).toBe(true);
  });

  it("a slow reader holds buffered bytes to one window (read())", async () => {
    const window = INITIAL_WINDOW;
    const { opener, acceptor, up } = sessionPair({}, { maxStreamWindow: window });
    const accepted = nextStream(acceptor);
    const s = opener.openStream();
    const payload = randomBytes(4 * MiB);
    Readable.from([payload.subarray(0, 2 * MiB), payload.subarray(2 * MiB)]).pipe(s);
    const r = await accepted;
    let maxBuffered = 0;
    let senderBlocked = 0;
    const deliver = up.deliver;
    up.deliver = (d) => {
      deliver(d);
      maxBuffered = Math.max(maxBuffered, r.readableLength + r.stream.readableLength);
      if (s.stream.sendWindow === 0) senderBlocked++;
    };
    const got: Buffer[] = [];
    let total = 0;
    let ended = false;
    r.once("end", () => {
      ended = true;
    });
    // One small read per event-loop turn: far slower than the sender.
    for (let turn = 0; turn < 200_000 && !ended; turn++) {
      const n = Math.min(4 * KiB, r.readableLength);
      const c = r.read(n > 0 ? n : undefined) as Buffer | null;
      if (c) {
        got.push(c);
        total += c.byteLength;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(total).toBe(payload.byteLength);
    expect(Buffer.concat(got).equals(payload)).toBe(true);
    expect(maxBuffered).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThanOrEqual(window);
    expect(senderBlocked).toBeGreaterThan(0);
  });

  it("a slow reader holds buffered bytes to one window (pipe into a slow sink)", async () => {
    const { opener, acceptor, up } = sessionPair();
    const window = acceptor.config.maxStreamWindow;
    const accepted = nextStream(acceptor);
    const s = opener.openStream();
    const payload = randomBytes(8 * MiB);
    s.end(payload);
    const r = await accepted;
    let maxBuffered = 0;
    const deliver = up.deliver;
    up.deliver = (d) => {
      deliver(d);
      maxBuffered = Math.max(maxBuffered, r.readableLength + r.stream.readableLength);
    };
    const got: Buffer[] = [];
    const sink = new Writable({
      highWaterMark: 16 * KiB,
      write(chunk: Buffer, _enc, cb) {
        got.push(chunk);
        setImmediate(cb); // one chunk per turn
      },
    });
    r.pipe(sink);
    await once(sink, "finish");
    expect(Buffer.concat(got).equals(payload)).toBe(true);
    // The window may have grown while the sink kept up (window-budget.ts); never past what it is.
    expect(window).toBeLessThanOrEqual(r.stream.receiveWindow);
    expect(maxBuffered).toBeLessThanOrEqual(r.stream.receiveWindow);
    expect(r.stream.receiveWindow).toBeLessThanOrEqual(MAX_STREAM_WINDOW);
  });

  it("returns every window's growth to the process budget when its stream closes", async () => {
    const { opener, acceptor } = sessionPair();
    const before = windowLent();
    for (let i = 0; i < 3; i++) {
      const { s, r } = await openBoth(opener, acceptor);
      s.end(randomBytes(8 * MiB));
      r.resume();
      await once(r, "end");
      r.end();
      s.resume();
      await until(() => opener.streamCount === 0 && acceptor.streamCount === 0, "stream closed");
    }
    expect(windowLent()).toBe(before);
  });

  it("grants one session at most its share of window growth", () => {
    const { acceptor } = sessionPair();
    const got = acceptor.borrowGrowth(Number.MAX_SAFE_INTEGER);
    expect(got).toBe(SESSION_GROWTH);
    expect(acceptor.borrowGrowth(1024)).toBe(0);
    acceptor.returnGrowth(got);
    expect(acceptor.borrowGrowth(1024)).toBe(1024);
    acceptor.returnGrowth(1024);
  });

  it("grants window growth only while the process budget lasts", () => {
    const before = windowLent();
    const all = borrowWindow(Number.MAX_SAFE_INTEGER);
    expect(borrowWindow(1024)).toBe(0);
    returnWindow(all);
    expect(windowLent()).toBe(before);
    expect(borrowWindow(1024)).toBe(1024);
    returnWindow(1024);
  });

  it("a window larger than the initial one is granted with SYN and ACK", async () => {
    const { opener, acceptor } = sessionPair({ maxStreamWindow: 4 * MiB }, { maxStreamWindow: 2 * MiB });
    const { s, r } = await openBoth(opener, acceptor);
    expect(r.stream.sendWindow).toBe(4 * MiB);
    r.write("x"); // the held ACK leaves with the first frame back
    await until(() => s.stream.sendWindow === 2 * MiB, "ACK credit arrives");
  });

  it("a held ACK's credit goes out once the opener has sent half the initial window", async () => {
    // Nothing comes back and the hold outlasts the test: only the bytes received can release it.
    const { opener, acceptor } = sessionPair({}, { maxStreamWindow: 4 * MiB, holdBareMs: 3_600_000 });
    const accepted = nextStream(acceptor);
    const s = opener.openStream();
    const payload = randomBytes(3 * MiB);
    s.end(payload);
    const r = await accepted;
    expect((await readAll(r)).equals(payload)).toBe(true);
  });
});

describe("framing", () => {
  it("batches the frames of one turn into one message", async () => {
    const { opener, acceptor, up } = sessionPair();
    const streams: StreamDuplex[] = [];
    acceptor.on("stream", (r) => streams.push(r));
    for (let i = 0; i < 50; i++) opener.openStream().write(Buffer.alloc(100, i));
    await until(() => streams.length === 50, "50 streams accepted");
    // 50 SYNs and 50 data frames, one message.
    expect(up.messageCount).toBe(1);
  });

  it("holds an accepted stream's ACK for the stream's first frame back, however late", async () => {
    const { opener, acceptor, down } = sessionPair({}, { holdBareMs: 3_600_000 });
    down.record = true;
    const { s, r } = await openBoth(opener, acceptor);
    s.write("request");
    await once(r, "data");
    // Long past the 1 ms a bare FIN waits: the ACK still has not left on its own.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(down.messageCount).toBe(0);
    r.write("response");
    expect((await once(s, "data"))[0].toString()).toBe("response");
    expect(down.messageCount).toBe(1);
    const frames = parseFrames(down.messages[0]!);
    expect(frames.map((f) => [f.type, f.flags])).toEqual([
      [FrameType.WindowUpdate, 0x2],
      [FrameType.Data, 0],
    ]);
  });

  it("a quiet FIN leaves with the next frame; flushed() sends it at once", async () => {
    const { opener, acceptor, up } = sessionPair({ holdBareMs: 3_600_000 });
    up.record = true;
    const { s, r } = await openBoth(opener, acceptor);
    await settle();
    const before = up.messageCount;
    s.stream.endQuiet();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(up.messageCount).toBe(before);
    // The FIN and the next stream's SYN share a message.
    const next = nextStream(acceptor);
    opener.openStream().write("next");
    await next;
    expect(up.messageCount).toBe(before + 1);
    const flags = parseFrames(up.messages.at(-1)!).map((f) => f.flags);
    expect(flags).toEqual([0x4, 0x1, 0]); // FIN, then SYN and the data
    await once(r.resume(), "end");
    // Alone, a quiet FIN waits for nothing once the session is asked to flush.
    const third = nextStream(acceptor);
    const t = opener.openStream();
    t.write("third");
    const tr = await third;
    await settle();
    t.stream.endQuiet();
    await opener.flushed();
    await once(tr.resume(), "end");
  });

  it("holds nothing queued while flushed() waits, even behind a message in flight", async () => {
    const { opener, acceptor, up } = sessionPair({ holdBareMs: 3_600_000 });
    const { s, r } = await openBoth(opener, acceptor);
    await settle();
    up.hold(); // the next message stays in flight until released
    s.write("x");
    await settle();
    const done = opener.flushed();
    s.stream.endQuiet(); // queued after the call, while "x" is still in flight
    up.release();
    await done;
    await once(r.resume(), "end");
  });

  it("never sends a message larger than maxMessageBytes", async () => {
    const { opener, acceptor, up } = sessionPair({ maxMessageBytes: 16 * KiB, maxFrameData: 4 * KiB });
    up.record = true;
    const accepted = nextStream(acceptor);
    const s = opener.openStream();
    const payload = randomBytes(MiB);
    s.end(payload);
    const r = await accepted;
    expect((await readAll(r)).equals(payload)).toBe(true);
    const sizes = up.messages.map((m) => m.byteLength);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(16 * KiB);
    const frames = parseFrames(Buffer.concat(up.messages));
    const data = frames.filter((f) => f.type === FrameType.Data);
    expect(Math.max(...data.map((f) => f.length))).toBeLessThanOrEqual(4 * KiB);
    expect(Buffer.concat(data.map((f) => f.body)).equals(payload)).toBe(true);
  });
});

describe("ping and keepalive", () => {
  it("ping resolves with the round trip; concurrent pings share one frame", async () => {
    const { opener, up } = sessionPair();
    up.record = true;
    const [a, b] = await Promise.all([opener.ping(), opener.ping()]);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(b).toBe(a);
    expect(opener.rtt).toBe(a);
    const pings = parseFrames(Buffer.concat(up.messages)).filter((f) => f.type === FrameType.Ping);
    expect(pings).toHaveLength(1);
  });

  it("keepalive pings are answered and the session stays up", async () => {
    const { opener, acceptor, up, down } = sessionPair({ keepAliveIntervalMs: 5, keepAliveTimeoutMs: 1_000 });
    up.record = true;
    down.record = true;
    const pongs = () => parseFrames(Buffer.concat(down.messages)).filter((f) => f.type === FrameType.Ping);
    await until(() => pongs().length >= 3, "three keepalive pongs", 1_000_000);
    expect(opener.isClosed).toBe(false);
    expect(opener.rtt).toBeGreaterThanOrEqual(0);
    opener.close();
    acceptor.close();
  });

  it("an unanswered keepalive declares the session dead and fails its streams", async () => {
    const { opener, down } = sessionPair({ keepAliveIntervalMs: 10, keepAliveTimeoutMs: 30 });
    down.hold(); // the acceptor's answers never arrive
    const s = opener.openStream();
    const streamFailed = once(s, "error");
    const pending = opener.ping();
    const [err] = await once(opener, "close");
    expect(err).toBeInstanceOf(SessionClosedError);
    expect((err as SessionClosedError).reason).toBe("keepalive_timeout");
    const [streamErr] = await streamFailed;
    expect((streamErr as SessionClosedError).reason).toBe("keepalive_timeout");
    await expect(pending).rejects.toBeInstanceOf(SessionClosedError);
    expect(() => opener.openStream()).toThrow(SessionClosedError);
  });
});

describe("quiet-only keepalive (the peer's)", () => {
  const pingsSent = (wire: { messages: Buffer[] }) =>
    parseFrames(Buffer.concat(wire.messages)).filter((f) => f.type === FrameType.Ping && f.flags & Flag.SYN);

  it("sends no pings of its own while the remote's arrive", () => {
    // Fake timers: each 5 ms step delivers the opener's ping before the acceptor looks again, so
    // the test does not depend on how busy the machine is.
    vi.useFakeTimers();
    try {
      const { opener, acceptor, up, down } = sessionPair(
        { keepAliveIntervalMs: 5, keepAliveTimeoutMs: 1_000 },
        { keepAliveIntervalMs: 20, keepAliveTimeoutMs: 1_000, keepAliveQuietOnly: true },
      );
      up.record = true;
      down.record = true;
      // Forty of the opener's pings span ten of the acceptor's intervals.
      for (let step = 0; step < 41; step++) vi.advanceTimersByTime(5);
      expect(pingsSent(up).length).toBeGreaterThanOrEqual(40);
      expect(pingsSent(down)).toHaveLength(0);
      expect(acceptor.isClosed).toBe(false);
      opener.close();
      acceptor.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it("pings once the remote has been silent for an interval, and finds a dead one", async () => {
    const { opener, acceptor, up, down } = sessionPair(
      {},
      { keepAliveIntervalMs: 10, keepAliveTimeoutMs: 30, keepAliveQuietOnly: true },
    );
    down.record = true;
    up.hold(); // the opener's answers never arrive
    const [err] = await once(acceptor, "close");
    expect((err as SessionClosedError).reason).toBe("keepalive_timeout");
    expect(pingsSent(down).length).toBeGreaterThanOrEqual(1);
    opener.close();
  });
});

describe("GoAway and refusals", () => {
  it("GoAway stops new streams both ways while open ones finish", async () => {
    const { opener, acceptor } = sessionPair();
    const { s, r } = await openBoth(opener, acceptor);
    s.write("before ");
    acceptor.goAway(GoAwayCode.Restarting);
    const [code] = await once(opener, "goaway");
    expect(code).toBe(GoAwayCode.Restarting);
    expect(opener.canOpenStreams).toBe(false);
    expect(acceptor.canOpenStreams).toBe(false);
    expect(() => opener.openStream()).toThrow(SessionClosedError);
    expect(() => acceptor.openStream()).toThrow(SessionClosedError);
    // The open stream still runs to completion in both directions.
    const up = readAll(r);
    const down = readAll(s);
    s.end("after");
    r.end("answer after GoAway");
    expect((await up).toString()).toBe("before after");
    expect((await down).toString()).toBe("answer after GoAway");
    expect(opener.isClosed || acceptor.isClosed).toBe(false);
  });

  it("a SYN from a remote that may not open streams gets RST; the session goes on", async () => {
    // The relay's setting: only it opens streams.
    const { opener, acceptor } = sessionPair({ acceptStreams: false });
    let openerStreams = 0;
    opener.on("stream", () => openerStreams++);
    const refused = acceptor.openStream();
    refused.write("should not be delivered");
    const [err] = await once(refused, "error");
    expect(err).toBeInstanceOf(StreamResetError);
    expect(openerStreams).toBe(0);
    await until(() => opener.streamCount === 0 && acceptor.streamCount === 0, "nothing left open");
    // Streams the other way still work.
    const accepted = nextStream(acceptor);
    const s = opener.openStream();
    s.end("fine");
    expect((await readAll(await accepted)).toString()).toBe("fine");
  });

  it("refuses inbound streams beyond maxInboundStreams, counting only inbound ones", async () => {
    const { opener, acceptor } = sessionPair({}, { maxInboundStreams: 2 });
    // The acceptor's own outbound streams do not count against its inbound limit.
    const theirs: StreamDuplex[] = [];
    opener.on("stream", (r) => theirs.push(r));
    const own = [acceptor.openStream(), acceptor.openStream(), acceptor.openStream()];
    await until(() => theirs.length === 3, "the acceptor's own streams are open");
    const accepted: StreamDuplex[] = [];
    acceptor.on("stream", (r) => accepted.push(r));
    const a = opener.openStream();
    const b = opener.openStream();
    a.write("a");
    b.write("b");
    await until(() => accepted.length === 2, "two accepted");
    const c = opener.openStream();
    c.write("c");
    const [err] = await once(c, "error");
    expect(err).toBeInstanceOf(StreamResetError);
    expect(accepted).toHaveLength(2);
    // Finish one stream cleanly in both directions; a new one is accepted again.
    a.end();
    accepted[0]!.resume();
    accepted[0]!.end();
    a.resume();
    await until(() => acceptor.streamCount === own.length + 1, "one inbound slot free");
    const d = opener.openStream();
    d.write("d");
    await until(() => accepted.length === 3, "third accepted after a slot freed");
    expect(accepted[2]!.id).toBe(d.id);
  });

  it("closing the session fails open streams and pending writes", async () => {
    const { opener, acceptor } = sessionPair();
    const { s, r } = await openBoth(opener, acceptor);
    s.write("x");
    const failed = once(r, "error");
    acceptor.close();
    const [err] = await failed;
    expect(err).toBeInstanceOf(SessionClosedError);
    expect(acceptor.streamCount).toBe(0);
    expect(() => acceptor.openStream()).toThrow(SessionClosedError);
    await expect(acceptor.ping()).rejects.toBeInstanceOf(SessionClosedError);
  });

  it("a transport that fails its sends closes the session as transport_closed", async () => {
    const { opener, up } = sessionPair();
    up.break();
    const s = opener.openStream();
    const streamFailed = once(s, "error");
    s.write("x");
    const [err] = await once(opener, "close");
    expect((err as SessionClosedError).reason).toBe("transport_closed");
    const [streamErr] = await streamFailed;
    expect((streamErr as SessionClosedError).reason).toBe("transport_closed");
  });
});
