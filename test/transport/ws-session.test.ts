/**
 * sessionOverLink on real WebSockets over loopback: the messages of one flush leave in one socket
 * write when the link knows its socket (a handed-over piece is a message of its own, right behind
 * the message that holds its frame header).
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { type Link, noiseLink, plainLink } from "../../src/transport/link.ts";
import { WebSocket, WebSocketServer } from "../../src/transport/ws.ts";
import { sessionOverLink } from "../../src/transport/ws-session.ts";
import type { Session } from "../../src/yamux/session.ts";
import type { YamuxStream } from "../../src/yamux/stream.ts";
import { countWrites } from "../helpers/socket-writes.ts";

const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

interface Ends {
  client: WebSocket;
  server: WebSocket;
  clientSocket: Duplex;
  serverSocket: Duplex;
}

/** A WebSocket pair on 127.0.0.1, with the socket under each end. */
async function wsPair(): Promise<Ends> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  await once(wss, "listening");
  closers.push(() => wss.close());
  const accepted = new Promise<[WebSocket, Duplex]>((resolve) =>
    wss.once("connection", (ws, req) => resolve([ws, req.socket])),
  );
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, {
    perMessageDeflate: false,
  });
  closers.push(() => client.terminate());
  // 'open' follows 'upgrade' in the same tick.
  const [[upgrade]] = await Promise.all([once(client, "upgrade"), once(client, "open")]);
  const [server, serverSocket] = await accepted;
  return { client, server, clientSocket: upgrade.socket as Duplex, serverSocket };
}

const QUIET = { keepAliveIntervalMs: 0 };

/** Counts the messages sent on a link. */
function countSends(link: Link): { readonly n: number } {
  const counter = { n: 0 };
  const send = link.send.bind(link);
  link.send = (data, cb) => {
    counter.n++;
    send(data, cb);
  };
  return counter;
}

function sessions(opener: Link, acceptor: Link): [Session, Session] {
  return [sessionOverLink(opener, "opener", QUIET), sessionOverLink(acceptor, "acceptor", QUIET)];
}

/** Everything the accepted stream receives, once it ends. */
function received(acceptor: Session): Promise<Buffer> {
  return new Promise((resolve) =>
    acceptor.once("stream", (s: YamuxStream) => {
      const chunks: Buffer[] = [];
      s.attach({
        data: (c) => {
          chunks.push(Buffer.from(c));
        },
        end: () => resolve(Buffer.concat(chunks)),
        drain() {},
        close() {},
      });
    }),
  );
}

describe("sessionOverLink", () => {
  it("plain link: a SYN, a handed-over piece and a FIN leave in one socket write", async () => {
    const e = await wsPair();
    const link = plainLink(e.client, 1 << 20, e.clientSocket);
    const messages = countSends(link);
    const [opener, acceptor] = sessions(link, plainLink(e.server, 1 << 20));
    const got = received(acceptor);
    const writes = countWrites(e.clientSocket);
    const payload = randomBytes(192 * 1024);
    const s = opener.openStream();
    s.write(payload); // owned: sent as is, in a message of its own
    s.end();
    expect((await got).equals(payload)).toBe(true);
    expect(messages.n).toBe(3); // header, the piece, the FIN
    expect(writes.n).toBe(1);
  });

  it("without its socket the same link writes each message on its own", async () => {
    const e = await wsPair();
    const link = plainLink(e.client, 1 << 20);
    const messages = countSends(link);
    const [opener, acceptor] = sessions(link, plainLink(e.server, 1 << 20));
    const got = received(acceptor);
    const writes = countWrites(e.clientSocket);
    const payload = randomBytes(192 * 1024);
    const s = opener.openStream();
    s.write(payload);
    s.end();
    expect((await got).equals(payload)).toBe(true);
    expect(messages.n).toBe(3);
    expect(writes.n).toBeGreaterThan(1);
  });

  it("Noise link: a flush of several encrypted messages leaves in one socket write", async () => {
    const e = await wsPair();
    const [clientLink, serverLink] = await Promise.all([
      noiseLink(e.client, true, undefined, e.clientSocket),
      noiseLink(e.server, false),
    ]);
    const messages = countSends(clientLink);
    const [opener, acceptor] = sessions(clientLink, serverLink);
    const got = received(acceptor);
    const writes = countWrites(e.clientSocket);
    const payload = randomBytes(200 * 1024); // four Noise messages at least (65,519 bytes each)
    const s = opener.openStream();
    s.write(payload, true);
    s.end();
    expect((await got).equals(payload)).toBe(true);
    expect(messages.n).toBeGreaterThanOrEqual(4);
    expect(writes.n).toBe(1);
  });
});
