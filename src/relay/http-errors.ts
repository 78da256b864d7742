/** Writes a JSON error from the one error table (src/protocol/errors.ts). */
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { STATUS_CODES } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import { ERROR_HEADER } from "../protocol/constants.ts";
import { errorBody, HTTP_ERRORS, type HttpErrorCode } from "../protocol/errors.ts";

export type PublicResponse = ServerResponse | Http2ServerResponse;

export function sendError(
  res: PublicResponse,
  code: HttpErrorCode,
  extraHeaders: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // Drop what a failed writeHead of the answer may have left set (HTTP/2 keeps it, and would
  // refuse it again); the relay's own X-Request-Id and Connection stay.
  for (const name of res.getHeaderNames())
    if (name !== "x-request-id" && name !== "connection") res.removeHeader(name);
  const body = errorBody(code);
  res.writeHead(HTTP_ERRORS[code].status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    [ERROR_HEADER]: code,
    ...extraHeaders,
  });
  res.end(body);
}

/**
 * The same error written raw onto a socket, for what has no ServerResponse: upgrades, tunnel
 * connects, and requests Node could not parse. Every response carries an X-Request-Id.
 */
export function rawError(code: HttpErrorCode, extraHeaders: Record<string, string> = {}): string {
  const body = errorBody(code);
  const { status } = HTTP_ERRORS[code];
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}`,
    "Content-Type: application/json",
    `Content-Length: ${Buffer.byteLength(body)}`,
    `${ERROR_HEADER}: ${code}`,
    "Connection: close",
    ...("X-Request-Id" in extraHeaders ? [] : [`X-Request-Id: ${randomUUID()}`]),
    ...Object.entries(extraHeaders).map(([k, v]) => `${k}: ${v}`),
  ];
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}
