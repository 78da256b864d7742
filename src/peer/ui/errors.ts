/**
 * How the management page's server answers with an error from the one table (src/protocol/errors.ts,
 * UI_ERRORS): `{"error":"<code>"}`, plus a `message` when the user needs to read one.
 */
import type { ServerResponse } from "node:http";
import { ERROR_HEADER } from "../../protocol/constants.ts";
import { UI_ERRORS, type UiErrorCode } from "../../protocol/errors.ts";

export type { UiErrorCode };

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
