/**
 * A message link over a WebSocket: binary messages in and out, either as they are ("agent-relay.v1")
 * or inside a Noise XX channel ("agent-relay.v1+noise"). Authentication and the yamux session run
 * on top of a Link and never touch the WebSocket's message events themselves.
 */

import type { Writable } from "node:stream";
import { CLOSE_CODES } from "../protocol/errors.ts";
import {
  type CipherState,
  type KeyPair,
  MAX_NOISE_MESSAGE,
  MAX_NOISE_PLAINTEXT,
  NoiseError,
  noiseCrypto,
  XXHandshake,
} from "./noise.ts";
import { type RawData, WebSocket } from "./ws.ts";

export interface Link {
  readonly ws: WebSocket;
  /** Largest message `send` accepts. */
  readonly maxMessage: number;
  /** `send` writes the caller's buffer as it is (no copy of its own that a hand-over could save). */
  readonly sendsAsIs: boolean;
  /** The Noise handshake hash when the link is encrypted; what the login is bound to. */
  readonly channelBinding: Uint8Array | undefined;
  send(data: Uint8Array, cb?: (err?: Error | null) => void): void;
  /** Sets the one handler for incoming messages (replacing the previous one). */
  onMessage(handler: (data: Buffer) => void): void;
  /**
   * The WebSocket's own socket, when known: corking it around several `send`s makes them one
   * socket write.
   */
  readonly socket: Corkable | undefined;
}

/** What a Link needs of the socket under its WebSocket. */
export type Corkable = Pick<Writable, "cork" | "uncork">;

export function messageBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function sendRaw(ws: WebSocket, data: Uint8Array, cb?: (err?: Error | null) => void): void {
  if (ws.readyState !== WebSocket.OPEN) {
    cb?.(new Error("websocket is not open"));
    return;
  }
  ws.send(data, { binary: true }, cb);
}

/** Listens for binary messages; a text message closes the socket with 1003. */
function listen(ws: WebSocket, deliver: (buf: Buffer) => void): void {
  ws.on("message", (data, isBinary) => {
    if (!isBinary) {
      ws.close(CLOSE_CODES.unsupported_data, "unsupported_data: binary messages only");
      return;
    }
    deliver(messageBuffer(data));
  });
}

/** Holds messages that arrive before anyone listens, then hands them over in order. */
class Mailbox {
  private handler: ((data: Buffer) => void) | undefined;
  private early: Buffer[] = [];

  deliver(buf: Buffer): void {
    if (this.handler) this.handler(buf);
    else this.early.push(buf);
  }

  set(handler: (data: Buffer) => void): void {
    this.handler = handler;
    for (const buf of this.early.splice(0)) handler(buf);
  }
}

export function plainLink(ws: WebSocket, maxMessage: number, socket?: Corkable): Link {
  const box = new Mailbox();
  listen(ws, (buf) => box.deliver(buf));
  return {
    ws,
    maxMessage,
    sendsAsIs: true,
    channelBinding: undefined,
    socket,
    send: (data, cb) => sendRaw(ws, data, cb),
    onMessage: (h) => box.set(h),
  };
}

class NoiseLink implements Link {
  readonly maxMessage = MAX_NOISE_PLAINTEXT;
  readonly sendsAsIs = false; // every message is encrypted into a new buffer
  private readonly box = new Mailbox();
  private static readonly AD = new Uint8Array(0);

  constructor(
    readonly ws: WebSocket,
    readonly channelBinding: Uint8Array,
    private readonly tx: CipherState,
    private readonly rx: CipherState,
    readonly socket: Corkable | undefined,
  ) {}

  send(data: Uint8Array, cb?: (err?: Error | null) => void): void {
    if (data.length > MAX_NOISE_PLAINTEXT) {
      cb?.(new RangeError(`message of ${data.length} bytes exceeds the Noise limit`));
      return;
    }
    sendRaw(this.ws, this.tx.encryptWithAd(NoiseLink.AD, data), cb);
  }

  onMessage(handler: (data: Buffer) => void): void {
    this.box.set(handler);
  }

  receive(buf: Buffer): void {
    let plain: Uint8Array;
    try {
      plain = this.rx.decryptWithAd(NoiseLink.AD, buf);
    } catch (err) {
      const why = err instanceof NoiseError ? err.message : "decrypt failed";
      this.ws.close(CLOSE_CODES.secure_channel_error, `secure_channel_error: ${why}`);
      return;
    }
    this.box.deliver(Buffer.from(plain.buffer, plain.byteOffset, plain.length));
  }
}

/**
 * Runs the Noise XX handshake as the peer (initiator) or the relay (responder), then returns the
 * encrypted link. Rejects on a malformed handshake or a closed socket; the caller closes the socket.
 */
export async function noiseLink(
  ws: WebSocket,
  initiator: boolean,
  staticKey?: KeyPair | Promise<KeyPair>,
  socket?: Corkable,
): Promise<Link> {
  // Listen first: the other side's first handshake message may arrive while the crypto loads.
  const inbox: Buffer[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  let link: NoiseLink | undefined;
  listen(ws, (buf) => {
    if (buf.length > MAX_NOISE_MESSAGE) {
      ws.close(CLOSE_CODES.secure_channel_error, "secure_channel_error: message over 65535 bytes");
      return;
    }
    if (link) return link.receive(buf);
    inbox.push(buf);
    wake?.();
  });
  ws.once("close", () => {
    closed = true;
    wake?.();
  });
  const crypto = await noiseCrypto();
  const key = await staticKey;
  const hs = new XXHandshake(initiator, crypto, key ? { staticKey: key } : {});
  const next = async (): Promise<Buffer> => {
    while (inbox.length === 0) {
      if (closed) throw new NoiseError("socket closed during the handshake");
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
    return inbox.shift()!;
  };
  if (initiator) {
    sendRaw(ws, hs.writeMessage());
    hs.readMessage(await next());
    sendRaw(ws, hs.writeMessage());
  } else {
    hs.readMessage(await next());
    sendRaw(ws, hs.writeMessage());
    hs.readMessage(await next());
  }
  const { send, recv } = hs.split();
  link = new NoiseLink(ws, hs.handshakeHash, send, recv, socket);
  // Anything that arrived right behind the last handshake message is already transport data.
  for (const buf of inbox.splice(0)) link.receive(buf);
  return link;
}

/** One static Noise key per process: generating it per connection costs a key pair each time. */
let processKey: Promise<KeyPair> | undefined;
export function processStaticKey(): Promise<KeyPair> {
  processKey ??= noiseCrypto().then((c) => c.generateX25519KeyPair());
  return processKey;
}
