/**
 * A Session against a remote that is the test itself, writing raw frames: every protocol
 * violation ends the session with reason protocol_error after a GoAway(protocol error).
 */
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { Flag, FrameType, GoAwayCode } from "../../src/yamux/frame.ts";
import type { SessionClosedError } from "../../src/yamux/session.ts";
import { frame, parseFrames, rawRemote, type TestSession, until, type Wire } from "./pipe.ts";

const { Data, WindowUpdate, Ping, GoAway } = FrameType;
const { SYN, ACK, FIN, RST } = Flag;

/** The session we test is the acceptor: the raw remote opens odd-numbered streams. */
function acceptor(config = {}) {
  return rawRemote("acceptor", config);
}

function sent(wire: Wire) {
  return parseFrames(Buffer.concat(wire.messages));
}

async function expectProtocolError(
  r: { session: TestSession; wire: Wire; closed: Promise<SessionClosedError | undefined> },
  ...chunks: Buffer[]
): Promise<SessionClosedError> {
  for (const c of chunks) r.session.receive(c);
  const err = await r.closed;
  expect(err?.reason).toBe("protocol_error");
  expect(r.session.isClosed).toBe(true);
  const last = sent(r.wire).at(-1);
  expect(last?.type).toBe(GoAway);
  expect(last?.length).toBe(GoAwayCode.ProtocolError);
  // Whatever comes after is ignored, without throwing.
  r.session.receive(frame(9, 0xffff, 7, 7));
  return err!;
}

describe("protocol violations end the session with protocol_error", () => {
  it("unknown version", async () => {
    const bad = frame(Ping, SYN, 0, 1);
    bad[0] = 1;
    await expectProtocolError(acceptor(), bad);
  });

  it("unknown frame type", async () => {
    await expectProtocolError(acceptor(), frame(4, 0, 0, 0));
  });

  it("unknown flags", async () => {
    await expectProtocolError(acceptor(), frame(WindowUpdate, SYN | 0x10, 1, 0));
  });

  it("a remote opening a stream with our parity", async () => {
    await expectProtocolError(acceptor(), frame(WindowUpdate, SYN, 2, 0));
    await expectProtocolError(rawRemote("opener"), frame(WindowUpdate, SYN, 1, 0));
  });

  it("a stream id reused, or lower than one already opened", async () => {
    await expectProtocolError(acceptor(), frame(WindowUpdate, SYN, 1, 0), frame(WindowUpdate, SYN, 1, 0));
    await expectProtocolError(acceptor(), frame(WindowUpdate, SYN, 5, 0), frame(WindowUpdate, SYN, 3, 0));
  });

  it("a duplicate SYN on a stream we opened", async () => {
    const r = acceptor();
    const s = r.session.openStream();
    s.on("error", () => {});
    await expectProtocolError(r, frame(WindowUpdate, ACK, s.id, 0), frame(WindowUpdate, SYN, s.id, 0));
  });

  it("data or a window update on a stream that was never opened", async () => {
    await expectProtocolError(acceptor(), frame(Data, 0, 5, 3, Buffer.from("abc")));
    await expectProtocolError(acceptor(), frame(WindowUpdate, 0, 7, 100));
    // Our parity, but we never opened it.
    await expectProtocolError(acceptor(), frame(Data, 0, 2, 1, Buffer.from("x")));
  });

  it("data beyond the receive window", async () => {
    const r = acceptor({ maxStreamWindow: 256 * 1024 });
    // The whole window is fine...
    r.session.receive(frame(WindowUpdate, SYN, 1, 0));
    r.session.receive(frame(Data, 0, 1, 256 * 1024, Buffer.alloc(256 * 1024)));
    expect(r.session.isClosed).toBe(false);
    // ...one byte more is not. The header alone is enough to tell.
    await expectProtocolError(r, frame(Data, 0, 1, 1));
  });

  it("a huge length field on an open stream, a closed one and a refused one", async () => {
    await expectProtocolError(acceptor(), frame(WindowUpdate, SYN, 1, 0), frame(Data, 0, 1, 0xffffffff));
    await expectProtocolError(
      acceptor(),
      frame(WindowUpdate, SYN, 1, 0),
      frame(WindowUpdate, RST, 1, 0),
      frame(Data, 0, 1, 0xffffffff),
    );
    await expectProtocolError(acceptor({ acceptStreams: false }), frame(Data, SYN, 1, 0xfffffff0));
  });

  it("a window update that grows the send window past 2^32-1", async () => {
    await expectProtocolError(acceptor(), frame(WindowUpdate, SYN, 1, 0xffffffff));
    const r = acceptor();
    r.session.receive(frame(WindowUpdate, SYN, 1, 0xffffffff - 256 * 1024)); // exactly 2^32-1: allowed
    expect(r.session.isClosed).toBe(false);
    await expectProtocolError(r, frame(WindowUpdate, 0, 1, 1));
  });

  it("stream frames on stream 0, session frames on a stream, a ping with neither SYN nor ACK", async () => {
    await expectProtocolError(acceptor(), frame(Data, 0, 0, 0));
    await expectProtocolError(acceptor(), frame(WindowUpdate, 0, 0, 1));
    await expectProtocolError(acceptor(), frame(Ping, SYN, 1, 1));
    await expectProtocolError(acceptor(), frame(GoAway, 0, 1, 0));
    await expectProtocolError(acceptor(), frame(Ping, 0, 0, 1));
  });

  it("a violation split across messages is still caught, and fails open streams", async () => {
    const r = acceptor();
    r.session.receive(frame(WindowUpdate, SYN, 1, 0));
    const streamFailed = once(r.streams[0]!, "error");
    const bad = frame(Data, 0, 9, 1);
    await expectProtocolError(r, bad.subarray(0, 5), bad.subarray(5));
    const [err] = await streamFailed;
    expect((err as SessionClosedError).reason).toBe("protocol_error");
  });

  it("a remote that floods pings without reading the answers", async () => {
    const r = acceptor();
    const many = Buffer.alloc(70_000 * 12);
    for (let i = 0; i < 70_000; i++) frame(Ping, SYN, 0, i).copy(many, i * 12);
    await expectProtocolError(r, many);
  });
});

describe("things that are not violations", () => {
  it("a burst of pings is answered, each with its own opaque value", async () => {
    const r = acceptor();
    r.session.receive(Buffer.concat(Array.from({ length: 1000 }, (_, i) => frame(Ping, SYN, 0, i))));
    await until(() => sent(r.wire).length === 1000, "1000 pongs");
    const pongs = sent(r.wire);
    expect(pongs.every((f, i) => f.type === Ping && f.flags === ACK && f.length === i)).toBe(true);
    expect(r.session.isClosed).toBe(false);
  });

  it("a SYN refused while acceptStreams is false gets RST, and its body is discarded", async () => {
    const r = rawRemote("opener", { acceptStreams: false });
    let streams = 0;
    r.session.on("stream", () => streams++);
    r.session.receive(frame(Data, SYN, 2, 5, Buffer.from("hello")));
    r.session.receive(frame(Data, 0, 2, 3, Buffer.from("bye")));
    r.session.receive(frame(WindowUpdate, FIN, 2, 0));
    await until(() => r.wire.messages.length > 0, "RST sent");
    expect(sent(r.wire)).toEqual([expect.objectContaining({ type: WindowUpdate, flags: RST, streamId: 2 })]);
    expect(streams).toBe(0);
    expect(r.session.isClosed).toBe(false);
    expect(r.session.streamCount).toBe(0);
  });

  it("a SYN after our GoAway gets RST; frames for a stream already closed are dropped", async () => {
    const r = acceptor();
    r.session.goAway(GoAwayCode.Normal);
    r.session.receive(frame(WindowUpdate, SYN, 1, 0));
    r.session.receive(frame(Data, 0, 1, 2, Buffer.from("hi")));
    await until(() => sent(r.wire).length === 2, "GoAway and RST sent");
    const [goAway, rst] = sent(r.wire);
    expect(goAway).toMatchObject({ type: GoAway, length: GoAwayCode.Normal });
    expect(rst).toMatchObject({ type: WindowUpdate, flags: RST, streamId: 1 });
    expect(r.session.isClosed).toBe(false);
  });

  it("a GoAway from the remote with any code lets open streams finish", async () => {
    const r = acceptor();
    r.session.receive(frame(WindowUpdate, SYN, 1, 0));
    const s = r.streams[0]!;
    r.session.receive(frame(GoAway, 0, 0, 77));
    expect(r.session.remoteGoAway).toBe(77);
    r.session.receive(frame(Data, FIN, 1, 4, Buffer.from("last")));
    const chunks: Buffer[] = [];
    s.on("data", (c: Buffer) => chunks.push(c));
    await once(s, "end");
    expect(Buffer.concat(chunks).toString()).toBe("last");
    expect(r.session.isClosed).toBe(false);
  });

  it("an inbound stream nobody listens for is reset", async () => {
    const r = acceptor();
    r.session.removeAllListeners("stream");
    r.session.receive(frame(Data, SYN, 1, 2, Buffer.from("hi")));
    await until(() => sent(r.wire).length === 2, "ACK and RST sent");
    expect(sent(r.wire).map((f) => f.flags)).toEqual([ACK, RST]);
    expect(r.session.streamCount).toBe(0);
    expect(r.session.isClosed).toBe(false);
  });

  it("a ping answer we did not ask for is ignored", async () => {
    const r = acceptor();
    r.session.receive(frame(Ping, ACK, 0, 12345));
    expect(r.session.isClosed).toBe(false);
  });
});
