/**
 * Wire compatibility with `@libp2p/yamux` 8.0.3 as an independent implementation of the same spec:
 * one of our Sessions and one libp2p muxer, joined by an in-memory byte pipe.
 */
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import type { Stream, StreamMuxer } from "@libp2p/interface";
import { afterEach, describe, expect, it } from "vitest";
import { StreamResetError } from "../../src/yamux/stream.ts";
import { join, libp2pEnd, ourEnd } from "./libp2p-pipe.ts";
import type { TestSession } from "./pipe.ts";
import { readAll, until } from "./pipe.ts";

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const open: Array<{ ours: TestSession; theirs: StreamMuxer }> = [];
afterEach(async () => {
  for (const { ours, theirs } of open.splice(0)) {
    ours.close();
    theirs.abort(new Error("test over"));
  }
});

function bytesOf(data: Uint8Array | { subarray(): Uint8Array }): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray();
}

/** A libp2p stream that sends back what it receives and closes once the remote has. */
function libp2pEcho(stream: Stream): void {
  stream.addEventListener("message", (evt) => {
    stream.send(bytesOf(evt.data));
  });
  stream.addEventListener("remoteCloseWrite", () => {
    void stream.close();
  });
}

/** Everything a libp2p stream receives until the remote closes its side. */
async function libp2pReadAll(stream: Stream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(bytesOf(c)));
  return Buffer.concat(chunks);
}

/** Our Session opens streams (odd ids); the libp2p side is the server. */
function oursOpening() {
  const { a: ours, b: theirs } = join(ourEnd("opener"), libp2pEnd("inbound"));
  open.push({ ours, theirs });
  return { ours, theirs };
}

/** The libp2p side is the client and opens streams (odd ids) towards our acceptor. */
function theirsOpening() {
  const { a: ours, b: theirs } = join(ourEnd("acceptor"), libp2pEnd("outbound"));
  open.push({ ours, theirs });
  return { ours, theirs };
}

describe("our Session against @libp2p/yamux", () => {
  it("our streams to a libp2p echo: 4 at once, 1.5 MiB each way on each, FIN both ways", async () => {
    const { ours, theirs } = oursOpening();
    theirs.addEventListener("stream", (evt) => libp2pEcho(evt.detail));
    const payloads = Array.from({ length: 4 }, () => randomBytes(1.5 * MiB));
    const results = await Promise.all(
      payloads.map((p) => {
        const s = ours.openStream();
        const back = readAll(s);
        // Several writes, so frames of different sizes cross the pipe.
        for (let off = 0; off < p.byteLength; off += 100_000) s.write(p.subarray(off, off + 100_000));
        s.end();
        return back;
      }),
    );
    results.forEach((b, i) => {
      expect(b.byteLength).toBe(payloads[i]!.byteLength);
      expect(sha(b)).toBe(sha(payloads[i]!));
    });
    await until(() => ours.streamCount === 0, "our side forgets every stream");
  });

  it("libp2p streams to our echo: 4 at once, 1.5 MiB each way on each", async () => {
    const { ours, theirs } = theirsOpening();
    ours.on("stream", (s) => s.pipe(s));
    const payloads = Array.from({ length: 4 }, () => randomBytes(1.5 * MiB));
    const results = await Promise.all(
      payloads.map(async (p) => {
        const stream = await theirs.createStream();
        const back = libp2pReadAll(stream);
        for (let off = 0; off < p.byteLength; off += 64 * 1024) {
          if (!stream.send(p.subarray(off, off + 64 * 1024))) await stream.onDrain();
        }
        await stream.close();
        return back;
      }),
    );
    results.forEach((b, i) => {
      expect(sha(b)).toBe(sha(payloads[i]!));
    });
    await until(() => ours.streamCount === 0, "our side forgets every stream");
  });

  it("half-close: libp2p reads to our FIN, then answers on the same stream", async () => {
    const { ours, theirs } = oursOpening();
    theirs.addEventListener("stream", (evt) => {
      const stream = evt.detail;
      void libp2pReadAll(stream).then(async (req) => {
        stream.send(Buffer.from(`got ${req.byteLength} bytes`));
        await stream.close();
      });
    });
    const s = ours.openStream();
    const answer = readAll(s);
    s.end(Buffer.alloc(12_345, 1));
    expect((await answer).toString()).toBe("got 12345 bytes");
  });

  it("resets cross in both directions", async () => {
    const { ours, theirs } = oursOpening();
    const theirStreams: Stream[] = [];
    theirs.addEventListener("stream", (evt) => theirStreams.push(evt.detail));
    const s = ours.openStream();
    s.write("x");
    await until(() => theirStreams.length === 1, "libp2p accepts");
    const theirClose = once(theirStreams[0]! as unknown as EventTarget, "close");
    s.destroy();
    const [evt] = await theirClose;
    expect((evt as { error?: Error }).error).toBeDefined();

    const s2 = ours.openStream();
    s2.write("y");
    await until(() => theirStreams.length === 2, "libp2p accepts the second");
    const failed = once(s2, "error");
    theirStreams[1]!.abort(new Error("reset from libp2p"));
    const [err] = await failed;
    expect(err).toBeInstanceOf(StreamResetError);
    await until(() => ours.streamCount === 0, "our side forgets both");
  });

  it("pings cross in both directions", async () => {
    const { ours, theirs } = oursOpening();
    expect(await ours.ping()).toBeGreaterThanOrEqual(0);
    const theirPing = (theirs as unknown as { ping(): Promise<number> }).ping();
    expect(await theirPing).toBeGreaterThanOrEqual(0);
    expect(ours.isClosed).toBe(false);
  });

  it("a libp2p GoAway stops our new streams", async () => {
    const { ours, theirs } = oursOpening();
    const goaway = once(ours, "goaway");
    await theirs.close();
    const [code] = await goaway;
    expect(code).toBe(0);
    expect(ours.canOpenStreams).toBe(false);
  });

  it("libp2p may not open streams towards a Session that does not accept them", async () => {
    const { a: ours, b: theirs } = join(ourEnd("acceptor", { acceptStreams: false }), libp2pEnd("outbound"));
    open.push({ ours, theirs });
    const stream = await theirs.createStream();
    const closed = once(stream as unknown as EventTarget, "close");
    stream.send(Buffer.from("hello"));
    const [evt] = await closed;
    expect((evt as { error?: Error }).error).toBeDefined();
    expect(ours.streamCount).toBe(0);
    expect(ours.isClosed).toBe(false);
  });
});
