/**
 * Counts a socket's writes: one per `_write` or `_writev` call, which is one write (or writev) to
 * the kernel, however many chunks were buffered for it while the socket was corked.
 */
import type { Duplex } from "node:stream";

export function countWrites(socket: Duplex): { readonly n: number } {
  const counter = { n: 0 };
  const s = socket as Duplex & { _writev?: Duplex["_writev"] };
  const write = s._write.bind(s);
  const writev = s._writev?.bind(s);
  s._write = (chunk, encoding, cb) => {
    counter.n++;
    write(chunk, encoding, cb);
  };
  if (writev)
    s._writev = (chunks, cb) => {
      counter.n++;
      writev(chunks, cb);
    };
  return counter;
}

/** The socket under a `ws` WebSocket (its private `_socket`; tests only). */
export function wsSocket(ws: object): Duplex {
  return (ws as { _socket: Duplex })._socket;
}
