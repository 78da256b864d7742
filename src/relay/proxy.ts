/**
 * One public request onto one yamux stream. The request goes out as HTTP/1.1 through Node's own
 * client, writing into the stream; the answer is parsed back and streamed to the public client with
 * backpressure both ways. Upgrades (WebSocket) become a raw byte pipe.
 */
import { type IncomingMessage, request, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { YamuxStream } from "../yamux/stream.ts";
import { type ForwardInfo, forwardRequestHeaders, forwardResponseHeaders } from "./forward-headers.ts";
import { sendError } from "./http-errors.ts";

export interface ProxyResult {
  status: number;
  bytesIn: number;
  bytesOut: number;
}

export function proxyRequest(
  req: IncomingMessage,
  res: ServerResponse,
  stream: YamuxStream,
  info: ForwardInfo,
  done: (r: ProxyResult) => void,
): void {
  const headers = forwardRequestHeaders(req.rawHeaders, info);
  if (req.headers["transfer-encoding"] !== undefined) headers.push("Transfer-Encoding", "chunked");
  let bytesIn = 0;
  let bytesOut = 0;
  let finished = false;
  const finish = (status: number) => {
    if (finished) return;
    finished = true;
    done({ status, bytesIn, bytesOut });
  };
  const upstream = request({
    method: req.method,
    path: req.url,
    headers,
    setHost: false,
    createConnection: () => stream as unknown as import("node:net").Socket,
  });
  upstream.on("response", (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, [
      ...forwardResponseHeaders(answer.rawHeaders),
      "X-Request-Id",
      info.requestId,
    ]);
    res.flushHeaders();
    answer.on("data", (chunk: Buffer) => {
      bytesOut += chunk.byteLength;
    });
    answer.pipe(res);
    answer.on("error", () => res.destroy());
    answer.on("aborted", () => res.destroy());
    res.on("finish", () => finish(answer.statusCode ?? 502));
  });
  upstream.on("error", () => {
    if (!res.headersSent) {
      sendError(res, "tunnel_error", { "X-Request-Id": info.requestId });
      finish(502);
    } else {
      res.destroy();
      finish(res.statusCode);
    }
  });
  // The public client went away before the answer was complete: reset the stream.
  res.on("close", () => {
    if (!res.writableFinished) {
      upstream.destroy();
      stream.destroy();
      finish(499);
    }
  });
  req.on("data", (chunk: Buffer) => {
    bytesIn += chunk.byteLength;
  });
  req.pipe(upstream);
}

/** An HTTP Upgrade: write the request head, then pipe raw bytes both ways until either side ends. */
export function proxyUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  stream: YamuxStream,
  info: ForwardInfo,
): void {
  const headers = forwardRequestHeaders(req.rawHeaders, info, true);
  let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  stream.write(`${text}\r\n`);
  if (head.byteLength > 0) stream.write(head);
  socket.pipe(stream);
  stream.pipe(socket);
  const teardown = () => {
    socket.destroy();
    stream.destroy();
  };
  socket.on("error", teardown);
  stream.on("error", teardown);
  socket.on("close", () => stream.destroy());
  stream.on("close", () => socket.destroy());
}
