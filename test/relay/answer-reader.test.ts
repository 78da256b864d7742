/**
 * The relay's reader of the peer's response: heads and bodies of every framing, cut anywhere, come
 * out as the same events; what is not HTTP/1.1 is refused.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ERROR_HEADER } from "../../src/protocol/constants.ts";
import { FramingError } from "../../src/protocol/http1-framing.ts";
import { AnswerReader } from "../../src/relay/answer-reader.ts";
import { cleanup, fetchVia, startPeer, startRawLocalServer, startRelay } from "../helpers/harness.ts";

afterEach(cleanup);

interface Seen {
  continues: number;
  head?: { status: number; reason: string; headers: string[] };
  body: string;
  trailers?: string[];
}

/** Feeds `text` in pieces cut at `cuts`; returns what the reader reported and whether it is done. */
function read(text: string, cuts: number[], method = "GET") {
  const seen: Seen = { continues: 0, body: "" };
  const reader = new AnswerReader(
    method,
    {
      onContinue: () => seen.continues++,
      onHead: (status, reason, headers) => {
        seen.head = { status, reason, headers };
      },
      onData: (c) => {
        seen.body += c.toString("latin1");
      },
      onEnd: (trailers) => {
        seen.trailers = trailers;
      },
    },
    1024,
  );
  const bytes = Buffer.from(text, "latin1");
  const points = [0, ...cuts.filter((c) => c > 0 && c < bytes.byteLength), bytes.byteLength];
  for (let i = 0; i + 1 < points.length; i++) reader.feed(bytes.subarray(points[i], points[i + 1]));
  return { seen, reader };
}

const everyByte = (text: string) => Array.from({ length: text.length }, (_, i) => i);

describe("AnswerReader", () => {
  const chunked =
    "HTTP/1.1 100 Continue\r\n\r\n" +
    "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" +
    "HTTP/1.1 200 Fine Thanks\r\nTransfer-Encoding: chunked\r\nX-A:  spaced  \r\n\r\n" +
    "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Digest: abc\r\nX-More: 1\r\n\r\n" +
    "IGNORED";

  it("reports interim, head, body and trailers the same however the bytes are cut", () => {
    for (const cuts of [[], everyByte(chunked), [30, 31, 32, 90, 140, 141]]) {
      const { seen, reader } = read(chunked, cuts);
      expect(seen).toEqual({
        continues: 1,
        head: {
          status: 200,
          reason: "Fine Thanks",
          headers: ["Transfer-Encoding", "chunked", "X-A", "spaced"],
        },
        body: "hello, world",
        trailers: ["X-Digest", "abc", "X-More", "1"],
      });
      expect(reader.done).toBe(true);
    }
  });

  it("reads a Content-Length body and ignores bytes after it", () => {
    const text = "HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabcdef";
    const { seen, reader } = read(text, everyByte(text));
    expect(seen.body).toBe("abc");
    expect(seen.trailers).toEqual([]);
    expect(reader.done).toBe(true);
    expect(reader.fin()).toBe(true);
  });

  it("ends an answer with Content-Length: 0 at its head, even when the head ends a chunk", () => {
    const text = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    expect(read(text, []).reader.done).toBe(true);
    expect(read(text, everyByte(text)).reader.done).toBe(true);
  });

  it("ends a HEAD answer at its head, and one without a length at the FIN", () => {
    expect(read("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", [], "HEAD").reader.done).toBe(true);
    const { seen, reader } = read("HTTP/1.1 200 OK\r\n\r\nuntil the end", [20]);
    expect(reader.done).toBe(false);
    expect(reader.fin()).toBe(true);
    expect(seen.body).toBe("until the end");
    expect(seen.trailers).toEqual([]);
  });

  it("says a FIN cut the answer short when its length was known", () => {
    const { reader } = read("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", []);
    expect(reader.fin()).toBe(false);
    expect(read("HTTP/1.1 200 OK\r\nContent", []).reader.fin()).toBe(false);
  });

  it.each([
    ["a 101 nobody asked for", "HTTP/1.1 101 Switching Protocols\r\n\r\n"],
    ["a head over the limit", `HTTP/1.1 200 OK\r\nX: ${"a".repeat(1100)}\r\n\r\n`],
    ["an unfinished head over the limit", `HTTP/1.1 200 OK\r\nX: ${"a".repeat(1100)}`],
    ["bytes that are not HTTP", "SSH-2.0-OpenSSH_9.6\r\n\r\n"],
    ["broken chunked framing", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
  ])("refuses %s", (_what, text) => {
    expect(() => read(text, [])).toThrow(FramingError);
  });
});

describe("a response that is not HTTP/1.1, through the tunnel", () => {
  it("answers 502 bad_response before any byte of it reaches the client", async () => {
    const local = await startRawLocalServer((socket) => socket.end("this is not HTTP\r\n\r\n"));
    const relay = await startRelay();
    const peer = await startPeer(relay, local.url);
    const answer = await fetchVia(relay.port(), peer.host, "/");
    expect(answer.status).toBe(502);
    expect(answer.headers[ERROR_HEADER.toLowerCase()]).toBe("bad_response");
  });
});
