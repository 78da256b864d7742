/**
 * The slow-reader memory bound, with a real relay process: a client reads a 1 GiB response at
 * 1 MiB/s for 10 s. Flow control must hold the local server back (through the public socket, the
 * yamux window and the peer), so the relay's RSS stays flat instead of buffering the download.
 */
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type { Relay } from "../../src/relay/server.ts";
import { killAll, start, tempHome } from "../helpers/cli.ts";
import { cleanup, fetchVia, startLocalServer, startPeer } from "../helpers/harness.ts";

afterEach(async () => {
  killAll();
  await cleanup();
});

const MiB = 1024 * 1024;

function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m![1]) * 1024;
}

describe("slow reader", () => {
  it("holds the local server back: relay RSS grows < 64 MiB over 10 s of a 1 MiB/s read of 1 GiB", async () => {
    let produced = 0;
    let pauses = 0;
    let serverRes: import("node:http").ServerResponse | undefined;
    const local = await startLocalServer((req, res) => {
      if (req.url !== "/big") return res.end("warm");
      serverRes = res;
      res.writeHead(200, { "content-length": 1024 * MiB });
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = () => {
        while (produced < 1024 * MiB) {
          produced += chunk.byteLength;
          if (!res.write(chunk)) {
            pauses++;
            return void res.once("drain", pump);
          }
        }
        res.end();
      };
      pump();
    });
    const relay = start(tempHome(), [
      "relay",
      "--listen",
      "127.0.0.1:0",
      "--metrics-listen",
      "off",
      "--log-level",
      "warn",
    ]);
    const port = Number((await relay.waitFor(/relay listening on 127\.0\.0\.1:(\d+)/))[1]);
    const peer = await startPeer(
      { origin: `ws://127.0.0.1:${port}` } as Relay & { origin: string },
      local.url,
      {
        probe: false,
      },
    );
    for (let i = 0; i < 20; i++) await fetchVia(port, peer.host, "/warm");
    const pid = relay.child.pid!;
    const rssBefore = rssOf(pid);
    let rssMax = rssBefore;

    let consumed = 0;
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path: "/big", headers: { host: peer.host } }, (res) => {
        let budget = 0;
        res.pause();
        res.on("data", (c: Buffer) => {
          consumed += c.byteLength;
          budget -= c.byteLength;
          if (budget <= 0) res.pause();
        });
        res.on("error", reject);
        // 100 KiB every 100 ms: about 1 MiB/s, for 10 s.
        let ticks = 0;
        const tick = setInterval(() => {
          rssMax = Math.max(rssMax, rssOf(pid));
          if (++ticks > 100) {
            clearInterval(tick);
            req.destroy();
            return resolve();
          }
          budget += 100 * 1024;
          res.resume();
        }, 100);
      });
      req.on("error", () => {});
      req.end();
    });

    const growth = rssMax - rssBefore;
    console.log(
      `relay RSS ${(rssBefore / MiB).toFixed(1)} -> max ${(rssMax / MiB).toFixed(1)} MiB (+${(growth / MiB).toFixed(1)}); ` +
        `client read ${(consumed / MiB).toFixed(1)} MiB, local server wrote ${(produced / MiB).toFixed(1)} MiB, ` +
        `paused ${pauses} times`,
    );
    expect(consumed).toBeGreaterThan(8 * MiB);
    expect(consumed).toBeLessThan(12 * MiB);
    expect(growth).toBeLessThan(64 * MiB);
    // Paused: blocked on a full socket right now, and never far ahead of what the client took.
    expect(pauses).toBeGreaterThan(0);
    expect(serverRes?.writableNeedDrain).toBe(true);
    expect(produced - consumed).toBeLessThan(64 * MiB);
  });
});
