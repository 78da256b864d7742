/**
 * Runs a yamux session over an open `ws` WebSocket: binary messages in, batched binary messages
 * out. Used by both the relay and the peer once authentication is over.
 */
import WebSocket from "ws";
import type { YamuxConfig } from "../yamux/config.ts";
import { Session, type SessionRole } from "../yamux/session.ts";
import type { Link } from "./link.ts";

export { messageBuffer } from "./link.ts";

export function sessionOverWebSocket(
  ws: WebSocket,
  role: SessionRole,
  config: Partial<YamuxConfig>,
): Session {
  const session = new Session(
    {
      send(data, cb) {
        if (ws.readyState !== WebSocket.OPEN) return cb(new Error("websocket is not open"));
        ws.send(data, { binary: true }, cb);
      },
    },
    role,
    config,
  );
  ws.on("close", () => session.transportClosed());
  return session;
}

/** Runs a yamux session over a Link (plain or Noise); the link's messages feed the session. */
export function sessionOverLink(link: Link, role: SessionRole, config: Partial<YamuxConfig>): Session {
  const session = new Session({ send: (data, cb) => link.send(data, cb) }, role, {
    ...config,
    maxMessageBytes: Math.min(config.maxMessageBytes ?? link.maxMessage, link.maxMessage),
  });
  link.onMessage((buf) => session.receive(buf));
  link.ws.on("close", () => session.transportClosed());
  return session;
}
