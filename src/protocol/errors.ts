/**
 * The one table of error codes that leave a process: HTTP error bodies, WebSocket close codes and
 * yamux GoAway codes. spec/PROTOCOL.md and the README list the same table.
 */

/** HTTP errors: the body is always `{"error":"<code>"}`. */
export const HTTP_ERRORS = {
  invalid_subdomain: { status: 400, message: "the Host is not <40-hex address>.<domain>" },
  not_found: { status: 404, message: "no such endpoint on the relay" },
  unsupported_protocol: {
    status: 426,
    message: "the tunnel endpoint needs a supported WebSocket subprotocol",
  },
  agent_offline: { status: 502, message: "the agent has no live tunnel" },
  local_unreachable: { status: 502, message: "the agent's local server refused or dropped the connection" },
  tunnel_error: { status: 502, message: "the tunnel closed before the agent answered" },
  bad_response: { status: 502, message: "the agent's local server sent a malformed response" },
  tunnel_busy: { status: 503, message: "the tunnel has too many requests in flight" },
  peer_busy: { status: 503, message: "the tunnel peer has too many requests in flight" },
  request_header_too_large: { status: 431, message: "the request head is larger than the limit" },
  bad_request: { status: 400, message: "the request could not be parsed" },
  request_timeout: { status: 408, message: "the request head did not arrive within the header timeout" },
  body_too_large: { status: 413, message: "the request body is larger than the relay's body limit" },
  rate_limited: { status: 429, message: "the agent is over its request rate limit; retry after Retry-After" },
  connect_rate_limited: {
    status: 429,
    message: "this address is over its tunnel connect rate limit; retry after Retry-After",
  },
  too_many_pending: {
    status: 429,
    message: "this address already has its limit of tunnel connections waiting to authenticate",
  },
  cluster_unavailable: {
    status: 502,
    message: "the agent's tunnel is on another relay node, which cannot be reached right now",
  },
  unauthorized: { status: 401, message: "the request lacks valid credentials" },
  draining: { status: 503, message: "the relay is shutting down; retry shortly" },
  gateway_timeout: { status: 504, message: "the agent did not start its answer within the time limit" },
  idle_timeout: { status: 504, message: "no bytes moved either way for the idle timeout" },
} as const satisfies Record<string, { status: number; message: string }>;

export type HttpErrorCode = keyof typeof HTTP_ERRORS;

/** Errors of the peer's local management page (same body shape; it listens on 127.0.0.1 only). */
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

/** The JSON body for an HTTP error. */
export function errorBody(code: HttpErrorCode): string {
  return `{"error":"${code}"}`;
}

/**
 * WebSocket close codes the relay sends on the tunnel connection. 4000-4099 are authentication
 * failures (do not retry without a change), 4100-4199 are session-level events.
 */
export const CLOSE_CODES = {
  /** Standard: the relay is restarting; reconnect at once. */
  restarting: 1012,
  /** Standard: a text frame arrived; only binary messages are allowed. */
  unsupported_data: 1003,
  /** Standard: a message was larger than the limit. */
  message_too_big: 1009,
  /** The AUTH message could not be decoded, or arrived in the wrong order. */
  bad_message: 4000,
  /** No valid AUTH within the auth timeout. */
  auth_timeout: 4001,
  /** The signature does not verify for the claimed address. */
  bad_signature: 4002,
  /** The nonce is not the one issued on this connection, or was already used. */
  bad_nonce: 4003,
  /** The timestamp is further than the allowed skew from the relay's clock. */
  clock_skew: 4004,
  /** The signed origin is not one the relay answers to. */
  wrong_origin: 4005,
  /** The public key sent does not hash to the claimed address. */
  address_mismatch: 4006,
  /** A newer tunnel authenticated the same address; do not reconnect automatically. */
  superseded: 4100,
  /** A yamux protocol violation (bad version, type, flags, window overflow, unknown stream). */
  protocol_error: 4101,
  /** No keepalive answer within the timeout. */
  keepalive_timeout: 4102,
  /** The relay refused the tunnel because of a limit. */
  limit_exceeded: 4103,
  /** An internal error on the relay. */
  internal_error: 4104,
  /** A Noise handshake or transport message failed to decode or authenticate. */
  secure_channel_error: 4105,
} as const;

export type CloseReason = keyof typeof CLOSE_CODES;

/** Reverse lookup: close code to its reason string. */
export function closeReasonOf(code: number): CloseReason | undefined {
  for (const [reason, value] of Object.entries(CLOSE_CODES)) {
    if (value === code) return reason as CloseReason;
  }
  return undefined;
}

/** Close codes after which a peer must not reconnect without user action. */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CLOSE_CODES.bad_signature,
  CLOSE_CODES.wrong_origin,
  CLOSE_CODES.address_mismatch,
  CLOSE_CODES.superseded,
]);

/**
 * A WebSocket close reason: printable ASCII only (anything else becomes `?`) and at most 123 bytes,
 * the limit of a close frame; longer text would make `ws.close` throw.
 */
export function closeText(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 123);
}
