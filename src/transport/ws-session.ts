/**
 * Runs a yamux session over an open `ws` WebSocket: binary messages in, batched binary messages
 * out. Used by both the relay and the peer once authentication is over.
 */
import WebSocket from "ws";
import type { YamuxConfig } from "../yamux/config.ts";
import { Session, type SessionRole } from "../yamux/session.ts";

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

/** Normalizes the `data` argument of a `ws` message event to one Buffer. */
export function messageBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
