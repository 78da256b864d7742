/**
 * yamux frame vocabulary (hashicorp/yamux spec.md, version 0) and the 12-byte header codec.
 * Header: version (u8) | type (u8) | flags (u16) | stream id (u32) | length (u32), big-endian.
 */

export const YAMUX_VERSION = 0;
export const HEADER_LENGTH = 12;

export const FrameType = { Data: 0, WindowUpdate: 1, Ping: 2, GoAway: 3 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const Flag = { SYN: 0x1, ACK: 0x2, FIN: 0x4, RST: 0x8 } as const;
const KNOWN_FLAGS = 0xf;

/**
 * GoAway codes. 0-2 are yamux's own; 3 and 4 are Agent Relay's (spec/PROTOCOL.md, "Session end").
 */
export const GoAwayCode = {
  Normal: 0,
  ProtocolError: 1,
  InternalError: 2,
  Restarting: 3,
  Superseded: 4,
} as const;
export type GoAwayCode = (typeof GoAwayCode)[keyof typeof GoAwayCode];

/** Every stream starts with this receive window on both sides (yamux spec). */
export const INITIAL_WINDOW = 256 * 1024;

export interface FrameHeader {
  type: number;
  flags: number;
  streamId: number;
  length: number;
}

export class YamuxProtocolError extends Error {
  override name = "YamuxProtocolError";
}

/** Writes a header into `b` at `offset` (which must have 12 bytes of room). */
export function writeHeader(
  b: Uint8Array,
  offset: number,
  type: number,
  flags: number,
  streamId: number,
  length: number,
): void {
  b[offset] = YAMUX_VERSION;
  b[offset + 1] = type;
  b[offset + 2] = flags >>> 8;
  b[offset + 3] = flags;
  b[offset + 4] = streamId >>> 24;
  b[offset + 5] = streamId >>> 16;
  b[offset + 6] = streamId >>> 8;
  b[offset + 7] = streamId;
  b[offset + 8] = length >>> 24;
  b[offset + 9] = length >>> 16;
  b[offset + 10] = length >>> 8;
  b[offset + 11] = length;
}

/** Writes a header into a new 12-byte buffer. */
export function encodeHeader(type: number, flags: number, streamId: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(HEADER_LENGTH);
  writeHeader(b, 0, type, flags, streamId, length);
  return b;
}

/**
 * Reads and validates a header at `offset` into `out` (a new object if not given); throws
 * YamuxProtocolError on a bad version, type or flag.
 */
export function decodeHeader(
  b: Uint8Array,
  offset: number,
  out: FrameHeader = { type: 0, flags: 0, streamId: 0, length: 0 },
): FrameHeader {
  const version = b[offset]!;
  if (version !== YAMUX_VERSION) throw new YamuxProtocolError(`unsupported yamux version ${version}`);
  const type = b[offset + 1]!;
  if (type > FrameType.GoAway) throw new YamuxProtocolError(`unknown frame type ${type}`);
  const flags = (b[offset + 2]! << 8) | b[offset + 3]!;
  if ((flags & ~KNOWN_FLAGS) !== 0) throw new YamuxProtocolError(`unknown flags 0x${flags.toString(16)}`);
  const streamId =
    ((b[offset + 4]! << 24) | (b[offset + 5]! << 16) | (b[offset + 6]! << 8) | b[offset + 7]!) >>> 0;
  const length =
    ((b[offset + 8]! << 24) | (b[offset + 9]! << 16) | (b[offset + 10]! << 8) | b[offset + 11]!) >>> 0;
  out.type = type;
  out.flags = flags;
  out.streamId = streamId;
  out.length = length;
  return out;
}
