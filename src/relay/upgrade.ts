/**
 * Upgrades onto one yamux stream each (spec/PROTOCOL.md, "Stream contents"):
 * - HTTP/1.1 `Upgrade`: the head goes out as is; from then on the stream is a raw byte pipe both
 *   ways, the local server's own 101 (or refusal) included.
 * - HTTP/2 extended CONNECT (RFC 8441, `:protocol websocket`): the relay sends the local server an
 *   ordinary HTTP/1.1 WebSocket handshake, answers the client 200 once it gets 101, then pipes the
 *   WebSocket bytes between the HTTP/2 stream and the yamux stream. Frames are the same on both.
 */
import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Duplex } from "node:stream";
import type { HttpErrorCode } from "../protocol/errors.ts";
import { forwardRequestHeaders, forwardResponseHeaders } from "./forward-headers.ts";
import { rawError } from "./http-errors.ts";
import {
  type ProxyOptions,
  pipeAnswer,
  StreamGuard,
  upstreamRequest,
  writeAnswerHead,
  writeHead,
} from "./proxy.ts";

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** An HTTP/1.1 upgrade: write the request head, then pipe raw bytes both ways until either side ends. */
export function proxyUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  stream: Duplex,
  o: Omit<ProxyOptions, "maxBodyBytes">,
): void {
  const { ex } = o;
  const headers = forwardRequestHeaders(req.rawHeaders, o.info, true);
  let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  stream.write(`${text}\r\n`);
  let answered = false;
  let over = false;
  const cut = (code: HttpErrorCode) => {
    if (over) return;
    over = true;
    clearTimeout(firstByte);
    unwatch();
    stream.destroy();
    o.fail(code);
    if (!answered && socket.writable) socket.end(rawError(code, { "X-Request-Id": ex.id }));
    else socket.destroy();
  };
  const firstByte = setTimeout(() => cut("gateway_timeout"), o.firstByteTimeoutMs);
  const unwatch = o.idle.watch(ex, () => cut("idle_timeout"));
  stream.on("data", (c: Buffer) => {
    if (!answered) {
      answered = true;
      clearTimeout(firstByte);
      ex.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(c.toString("latin1", 0, 16))?.[1] ?? 0);
    }
    ex.bytesOut += c.length;
  });
  socket.on("data", (c: Buffer) => {
    ex.bytesIn += c.length;
  });
  if (head.length > 0) {
    ex.bytesIn += head.length;
    stream.write(head);
  }
  socket.pipe(stream);
  stream.pipe(socket);
  const teardown = () => {
    over = true;
    clearTimeout(firstByte);
    unwatch();
    socket.destroy();
    stream.destroy();
  };
  socket.on("error", teardown);
  stream.on("error", teardown);
  socket.on("close", teardown);
  stream.on("close", () => {
    if (!answered && !over) return cut("tunnel_error");
    teardown();
  });
}

/** RFC 8441: a WebSocket over an HTTP/2 stream, mapped onto a plain HTTP/1.1 handshake. */
export function proxyExtendedConnect(
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  stream: Duplex,
  o: Omit<ProxyOptions, "maxBodyBytes">,
): void {
  const { ex } = o;
  const key = randomBytes(16).toString("base64");
  const headers = forwardRequestHeaders(req.rawHeaders, o.info);
  headers.push("Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Key", key);
  if (req.headers["sec-websocket-version"] === undefined) headers.push("Sec-WebSocket-Version", "13");
  const upstream = upstreamRequest(req, stream, "GET", headers);
  const guard = new StreamGuard(o, stream, upstream);
  guard.startClock(); // the request is only a head

  upstream.on("upgrade", (answer: IncomingMessage, socket: Duplex, head: Buffer) => {
    guard.stopClock();
    const accept = createHash("sha1")
      .update(key + WS_GUID)
      .digest("base64");
    if (answer.headers["sec-websocket-accept"] !== accept) return guard.abort("bad_response");
    const back = forwardResponseHeaders(answer.rawHeaders);
    const out: string[] = [];
    for (let i = 0; i < back.length; i += 2)
      if (back[i]!.toLowerCase() !== "sec-websocket-accept") out.push(back[i]!, back[i + 1]!);
    writeHead(res, 200, out);
    if (head.length > 0) {
      ex.bytesOut += head.length;
      res.write(head);
    }
    socket.on("data", (c: Buffer) => {
      ex.bytesOut += c.length;
    });
    req.on("data", (c: Buffer) => {
      ex.bytesIn += c.length;
    });
    socket.pipe(res as unknown as NodeJS.WritableStream);
    req.pipe(socket);
    socket.on("error", () => res.destroy());
    socket.on("close", () => {
      if (!res.writableEnded) res.destroy();
    });
  });
  upstream.on("response", (answer) => {
    // The local server refused the upgrade: pass its answer on as an ordinary response.
    guard.stopClock();
    try {
      writeAnswerHead(res, answer);
    } catch {
      return guard.abort("bad_response");
    }
    pipeAnswer(answer, res, ex, () => guard.abort("tunnel_error"));
  });
  upstream.on("error", () => guard.abort("tunnel_error"));
  res.on("close", () => {
    guard.end();
    guard.reset();
  });
  upstream.end();
}
