/**
 * Runs a yamux session over a Link (plain or Noise): the link's messages feed the session, and the
 * session's batched frames go out as link messages. Used by both the relay and the peer once
 * authentication is over.
 */
import type { YamuxConfig } from "../yamux/config.ts";
import { Session, type SessionRole, type SessionTransport } from "../yamux/session.ts";
import type { Link } from "./link.ts";

/** With `feed` false the caller routes the link's messages to the session itself (see tunnel-client). */
export function sessionOverLink(
  link: Link,
  role: SessionRole,
  config: Partial<YamuxConfig>,
  feed = true,
): Session {
  const send: SessionTransport["send"] = (data, cb) => link.send(data, cb);
  const socket = link.socket;
  const transport = socket ? { send, cork: () => socket.cork(), uncork: () => socket.uncork() } : { send };
  const session = new Session(transport, role, {
    ...config,
    maxMessageBytes: Math.min(config.maxMessageBytes ?? link.maxMessage, link.maxMessage),
    handOver: link.sendsAsIs && config.handOver !== false,
  });
  if (feed) link.onMessage((buf) => session.receive(buf));
  link.ws.on("close", () => session.transportClosed());
  return session;
}
