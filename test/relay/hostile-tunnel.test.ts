/**
 * Hostile tunnel clients against a real relay: raw `ws` connections that send garbage before, during
 * and after authentication. Each ends in its documented close code (src/protocol/errors.ts), and a
 * normal peer keeps being served by the same relay.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { AgentIdentity } from "../../src/peer/identity.ts";
import { decodeAuthOk, decodeChallenge, encodeAuth } from "../../src/protocol/auth-codec.ts";
import { buildAuthMessage, normalizeOrigin } from "../../src/protocol/auth-message.ts";
import { SUBPROTOCOL, TUNNEL_PATH } from "../../src/protocol/constants.ts";
import { CLOSE_CODES } from "../../src/protocol/errors.ts";
import { Flag, FrameType, GoAwayCode } from "../../src/yamux/frame.ts";
import {
  cleanup,
  fetchVia,
  type StartedPeer,
  startLocalServer,
  startPeer,
  startRelay,
} from "../helpers/harness.ts";
import { frame, parseFrames } from "../yamux/pipe.ts";

const { Data, WindowUpdate, Ping, GoAway } = FrameType;
const { SYN, ACK, RST } = Flag;

let relay: Awaited<ReturnType<typeof startRelay>>;
let peer: StartedPeer;

beforeAll(async () => {
  relay = await startRelay();
  const local = await startLocalServer((_req, res) => res.end("still fine"));
  peer = await startPeer(relay, local.url);
});
afterAll(cleanup);

// After every hostile client, the relay still serves a normal peer.
afterEach(async () => {
  const answer = await fetchVia(relay.port(), peer.host, "/");
  expect(answer.status).toBe(200);
  expect(answer.body.toString()).toBe("still fine");
});

interface RawClient {
  ws: WebSocket;
  identity: AgentIdentity;
  /** Every binary message from the relay, in order. */
  received: Buffer[];
  /** Resolves with the close code and reason. */
  closed: Promise<[number, string]>;
  /** Resolves once the relay has sent a message matching `pred` (after the call). */
  next(pred?: (b: Buffer) => boolean): Promise<Buffer>;
}

function dial(): Promise<RawClient> {
  const url = `${relay.origin}${TUNNEL_PATH}`;
  const ws = new WebSocket(url, [SUBPROTOCOL], { perMessageDeflate: false });
  const received: Buffer[] = [];
  const waiters: Array<{ pred: (b: Buffer) => boolean; resolve: (b: Buffer) => void }> = [];
  ws.on("message", (data: Buffer) => {
    received.push(data);
    for (const w of [...waiters]) {
      if (w.pred(data)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(data);
      }
    }
  });
  const closed = once(ws, "close").then(
    ([code, reason]) => [code as number, String(reason)] as [number, string],
  );
  ws.on("error", () => {});
  const client: RawClient = {
    ws,
    identity: AgentIdentity.generate(),
    received,
    closed,
    next: (pred = () => true) => new Promise((resolve) => waiters.push({ pred, resolve })),
  };
  const challenge = client.next();
  return once(ws, "open").then(async () => {
    await challenge;
    return client;
  });
}

/** The AUTH answer to the challenge the client received, built as the real peer builds it. */
function authFor(c: RawClient): Buffer {
  const challenge = decodeChallenge(c.received[0]!);
  const origin = normalizeOrigin(new URL(relay.origin));
  const timestamp = Math.floor(Date.now() / 1000);
  const message = buildAuthMessage({
    origin,
    address: c.identity.address,
    nonce: challenge.nonce,
    timestamp,
  });
  return Buffer.from(
    encodeAuth({
      address: c.identity.address,
      nonce: challenge.nonce,
      timestamp,
      signature: c.identity.signMessage(message),
      origin,
      publicKey: c.identity.publicKey,
    }),
  );
}

/** Dials and authenticates; yamux frames may follow. */
async function authenticated(): Promise<RawClient> {
  const c = await dial();
  const ok = c.next();
  c.ws.send(authFor(c));
  expect(decodeAuthOk(await ok).publicUrl).toContain(c.identity.hexAddress);
  return c;
}

async function expectClose(c: RawClient, reason: keyof typeof CLOSE_CODES): Promise<void> {
  const [code] = await c.closed;
  expect(code).toBe(CLOSE_CODES[reason]);
}

/** Frames in everything the relay sent after AUTH_OK. */
function framesFrom(c: RawClient): ReturnType<typeof parseFrames> {
  return parseFrames(Buffer.concat(c.received.slice(2)));
}

describe("before and during authentication", () => {
  it("random bytes instead of AUTH: bad_message", async () => {
    const c = await dial();
    c.ws.send(randomBytes(300));
    await expectClose(c, "bad_message");
  });

  it("a text frame: unsupported_data", async () => {
    const c = await dial();
    c.ws.send("hello");
    await expectClose(c, "unsupported_data");
  });

  it("a message over 1 MiB: message_too_big", async () => {
    const c = await dial();
    c.ws.send(Buffer.alloc(1024 * 1024 + 1));
    await expectClose(c, "message_too_big");
  });

  it("an AUTH with a valid type byte but garbage after it: bad_message", async () => {
    const c = await dial();
    const auth = authFor(c);
    c.ws.send(Buffer.concat([auth.subarray(0, 40), randomBytes(10)]));
    await expectClose(c, "bad_message");
  });

  it("an AUTH with trailing bytes: bad_message", async () => {
    const c = await dial();
    c.ws.send(Buffer.concat([authFor(c), Buffer.from([0])]));
    await expectClose(c, "bad_message");
  });
});

describe("after authentication", () => {
  it("a second AUTH is read as yamux and is a protocol error", async () => {
    const c = await authenticated();
    c.ws.send(authFor(c));
    await expectClose(c, "protocol_error");
  });

  it("a text frame: unsupported_data", async () => {
    const c = await authenticated();
    c.ws.send("not binary");
    await expectClose(c, "unsupported_data");
  });

  it("a message over 1 MiB: message_too_big", async () => {
    const c = await authenticated();
    c.ws.send(Buffer.alloc(1024 * 1024 + 1));
    await expectClose(c, "message_too_big");
  });

  it.each([
    ["a header with an unknown version", () => Buffer.from([1, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])],
    ["an unknown frame type", () => frame(7, 0, 0, 0)],
    ["unknown flags", () => frame(Ping, 0x40, 0, 1)],
    ["a data frame on a stream the relay never opened", () => frame(Data, 0, 1, 3, Buffer.from("abc"))],
    ["a huge length field on an unopened stream", () => frame(Data, 0, 5, 0xffffffff)],
    ["a ping on a stream", () => frame(Ping, SYN, 3, 1)],
    ["random bytes", () => Buffer.concat([Buffer.from([0, 9]), randomBytes(200)])],
  ])("%s: protocol_error, after a GoAway(protocol error)", async (_what, bad) => {
    const c = await authenticated();
    c.ws.send(bad());
    await expectClose(c, "protocol_error");
    const goAway = framesFrom(c).find((f) => f.type === GoAway);
    expect(goAway?.length).toBe(GoAwayCode.ProtocolError);
  });

  it("a header split across two messages is still read as one", async () => {
    const c = await authenticated();
    const pong = c.next((b) => parseFrames(b).some((f) => f.type === Ping && f.flags === ACK));
    const ping = frame(Ping, SYN, 0, 424242);
    c.ws.send(ping.subarray(0, 5));
    c.ws.send(ping.subarray(5));
    expect(parseFrames(await pong).find((f) => f.type === Ping)?.length).toBe(424242);
    c.ws.close();
  });

  /** Has the relay open a stream to the raw client by requesting its public URL. */
  async function streamFromRelay(c: RawClient) {
    const syn = c.next((b) => parseFrames(b).some((f) => f.flags & SYN));
    const request = fetchVia(relay.port(), `${c.identity.hexAddress}.localhost`, "/x");
    const id = parseFrames(await syn).find((f) => f.flags & SYN)!.streamId;
    return { id, request };
  }

  it("data beyond the stream's receive window: protocol_error; the public request gets 502", async () => {
    const c = await authenticated();
    const { id, request } = await streamFromRelay(c);
    expect(id % 2).toBe(1); // the relay opens odd ids
    // The header alone announces 1 MiB + 1 bytes, more than the window the relay granted.
    c.ws.send(frame(Data, ACK, id, 1024 * 1024 + 1));
    await expectClose(c, "protocol_error");
    const answer = await request;
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body.toString()).error).toBe("tunnel_error");
  });

  it("a huge length field on an open stream: protocol_error", async () => {
    const c = await authenticated();
    const { id, request } = await streamFromRelay(c);
    c.ws.send(frame(Data, 0, id, 0xffffffff));
    await expectClose(c, "protocol_error");
    expect((await request).status).toBe(502);
  });

  it("a window update past 2^32-1: protocol_error", async () => {
    const c = await authenticated();
    const { id, request } = await streamFromRelay(c);
    c.ws.send(frame(WindowUpdate, ACK, id, 0xffffffff));
    await expectClose(c, "protocol_error");
    expect((await request).status).toBe(502);
  });

  it("a stream opened by the peer gets RST and the tunnel keeps working", async () => {
    const c = await authenticated();
    const rst = c.next((b) => parseFrames(b).some((f) => f.flags & RST));
    c.ws.send(frame(WindowUpdate, SYN, 2, 0));
    c.ws.send(frame(Data, 0, 2, 5, Buffer.from("hello")));
    const reset = parseFrames(await rst).find((f) => f.flags & RST)!;
    expect(reset).toMatchObject({ type: WindowUpdate, streamId: 2 });
    // Same tunnel, still served: the relay opens a stream to it and relays our answer.
    const { id, request } = await streamFromRelay(c);
    const body = "answered by a raw client";
    const http = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    c.ws.send(
      Buffer.concat([
        frame(WindowUpdate, ACK, id, 0),
        frame(Data, 0, id, http.length, Buffer.from(http)),
        frame(WindowUpdate, Flag.FIN, id, 0),
      ]),
    );
    const answer = await request;
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe(body);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.ws.close();
  });
});
