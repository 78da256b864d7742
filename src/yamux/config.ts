/** Session settings with defaults, checked once at construction (`verifyConfig`). */
import { INITIAL_WINDOW } from "./frame.ts";

export interface YamuxConfig {
  /** Receive window each stream grants its sender, at most 2^32-1. */
  maxStreamWindow: number;
  /** Largest payload in one data frame we send. */
  maxFrameData: number;
  /** Largest transport message we send; frames are batched into messages of up to this (or 256 KiB). */
  maxMessageBytes: number;
  /** Stream writers wait once this many bytes are queued or in flight on the transport. */
  writeHighWaterMark: number;
  /** Interval between keepalive pings; 0 turns them off. */
  keepAliveIntervalMs: number;
  /** A ping unanswered for this long marks the session dead. */
  keepAliveTimeoutMs: number;
  /**
   * Ping only after a whole interval with nothing received: anything the remote sends (its own
   * pings, streams) shows it is alive. The peer sets it, since the relay pings every interval.
   */
  keepAliveQuietOnly: boolean;
  /** Whether the remote may open streams. The relay sets false: only it opens streams. */
  acceptStreams: boolean;
  /** Inbound streams open at once before new ones are refused with RST. */
  maxInboundStreams: number;
  /**
   * Longest a held bare frame (an accepted stream's ACK, a FIN from `endQuiet`) waits for a frame
   * to leave with. The default is longer than the keepalive interval, so on a session that pings
   * a held frame leaves with the next frame or the next ping, never alone.
   */
  holdBareMs: number;
  /**
   * Large data the caller hands over may leave as a message of its own, not copied (Outbox.data).
   * Off where the transport copies every message anyway (the Noise link encrypts into a new buffer).
   */
  handOver: boolean;
}

export const defaultConfig: YamuxConfig = {
  maxStreamWindow: 1024 * 1024,
  maxFrameData: 256 * 1024,
  maxMessageBytes: 1024 * 1024,
  writeHighWaterMark: 4 * 1024 * 1024,
  keepAliveIntervalMs: 15_000,
  keepAliveTimeoutMs: 10_000,
  keepAliveQuietOnly: false,
  acceptStreams: true,
  maxInboundStreams: 65_536,
  holdBareMs: 20_000,
  handOver: true,
};

export function verifyConfig(c: YamuxConfig): YamuxConfig {
  const bad = (what: string) => {
    throw new RangeError(`yamux config: ${what}`);
  };
  if (
    !Number.isInteger(c.maxStreamWindow) ||
    c.maxStreamWindow < INITIAL_WINDOW ||
    c.maxStreamWindow > 0xffffffff
  )
    bad("maxStreamWindow must be an integer from 256 KiB to 2^32-1");
  if (!Number.isInteger(c.maxFrameData) || c.maxFrameData < 1024) bad("maxFrameData must be at least 1024");
  if (!Number.isInteger(c.maxMessageBytes) || c.maxMessageBytes < 1024)
    bad("maxMessageBytes must be at least 1024");
  if (c.writeHighWaterMark < c.maxMessageBytes) bad("writeHighWaterMark must be at least maxMessageBytes");
  if (c.keepAliveIntervalMs < 0 || c.keepAliveTimeoutMs <= 0) bad("keepalive times must be positive");
  if (!Number.isInteger(c.maxInboundStreams) || c.maxInboundStreams < 0)
    bad("maxInboundStreams must be >= 0");
  if (!(c.holdBareMs >= 1 && c.holdBareMs <= 2 ** 31 - 1)) bad("holdBareMs must be from 1 to 2^31-1");
  return c;
}
