/**
 * Protocol constants from spec/PROTOCOL.md. The relay and the peer import these; nothing here
 * imports either role.
 */

/** Protocol version carried in the WebSocket subprotocol and in the challenge. */
export const PROTOCOL_VERSION = 1;

/** WebSocket subprotocol for protocol version 1 (plain yamux over the WebSocket). */
export const SUBPROTOCOL = "agent-relay.v1";

/** WebSocket subprotocol for protocol version 1 inside a Noise XX secure channel. */
export const SUBPROTOCOL_NOISE = "agent-relay.v1+noise";

/** Every subprotocol this build speaks. */
export const SUPPORTED_SUBPROTOCOLS: readonly string[] = [SUBPROTOCOL_NOISE, SUBPROTOCOL];

/** Path of the tunnel endpoint on the relay's bare host. */
export const TUNNEL_PATH = "/v1/tunnel";

/** Bytes of randomness in a challenge nonce. */
export const NONCE_BYTES = 32;

/** Largest allowed difference between the peer's timestamp and the relay's clock, in seconds. */
export const MAX_CLOCK_SKEW_S = 30;

/** How long the relay waits for a valid AUTH after the upgrade, in milliseconds. */
export const AUTH_TIMEOUT_MS = 10_000;

/** Largest WebSocket message either side may send, in bytes (1 MiB). */
export const MAX_WS_MESSAGE = 1024 * 1024;

/** Largest HTTP request head the peer reads from a stream before it answers 431. */
export const MAX_REQUEST_HEAD = 64 * 1024;

/** Default identity headers the peer adds to each request (configurable on the peer). */
export const DEFAULT_IDENTITY_HEADERS = {
  agentId: "x-agent-id",
  agentAddress: "x-agent-address",
  relayOrigin: "x-relay-origin",
} as const;

/** Header that marks a response the peer or relay generated itself, with its error code. */
export const ERROR_HEADER = "x-agent-relay-error";
