/**
 * Error codes the management page's server answers with. The body is `{"error":"<code>"}`, plus a
 * `message` when the user needs to read one (a rejected setting). Same shape as the table in
 * src/protocol/errors.ts, where these belong once that table takes them.
 */
import type { ServerResponse } from "node:http";
import { ERROR_HEADER } from "../../protocol/constants.ts";

export const UI_ERRORS = {
  unauthorized: { status: 401, message: "sign in with `agent-relay ui`" },
  bad_host: { status: 421, message: "the Host header is not 127.0.0.1:<port> or localhost:<port>" },
  bad_origin: { status: 403, message: "the request did not come from the management page itself" },
  bad_csrf_token: { status: 403, message: "the CSRF token is missing or wrong" },
  not_found: { status: 404, message: "no such page or endpoint" },
  method_not_allowed: { status: 405, message: "this endpoint does not take that method" },
  unsupported_media_type: { status: 415, message: "send application/json" },
  payload_too_large: { status: 413, message: "the request body is larger than the limit" },
  bad_request: { status: 400, message: "the request body is not the expected JSON" },
  invalid_setting: { status: 400, message: "the change was refused; see message" },
  internal_error: { status: 500, message: "the peer failed to apply the change; see its log" },
} as const satisfies Record<string, { status: number; message: string }>;

export type UiErrorCode = keyof typeof UI_ERRORS;

export function sendUiError(res: ServerResponse, code: UiErrorCode, message?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(message ? { error: code, message } : { error: code });
  res.writeHead(UI_ERRORS[code].status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    [ERROR_HEADER]: code,
  });
  res.end(body);
}
