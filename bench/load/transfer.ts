/**
 * Bulk transfer: `parallel` requests at once, each downloading or uploading `bytes`. Downloads use
 * the lean client (lean-download.ts); uploads write one reused 256 KiB buffer through Node's client,
 * which copies nothing on the way out.
 */
import { send, type Target } from "./http-client.ts";
import { leanDownload } from "./lean-download.ts";

export interface TransferJob extends Target {
  direction: "download" | "upload";
  bytes: number;
  parallel: number;
}

export interface TransferResult {
  /** Bytes moved by requests that completed with 200 and the full length. */
  bytes: number;
  ok: number;
  failed: number;
  seconds: number;
  mbPerS: number;
}

export async function transfer(job: TransferJob): Promise<TransferResult> {
  const started = performance.now();
  const outcomes = await Promise.all(
    Array.from({ length: job.parallel }, () =>
      job.direction === "download"
        ? leanDownload(job, `/download?bytes=${job.bytes}`)
        : send(job, "/upload", { method: "POST", uploadBytes: job.bytes }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  // A download counts its body; an upload counts what the server says it received.
  const good = outcomes.filter(
    (o) => o.status === 200 && (job.direction === "upload" || o.bytes === job.bytes),
  );
  const bytes = good.length * job.bytes;
  return {
    bytes,
    ok: good.length,
    failed: job.parallel - good.length,
    seconds,
    mbPerS: bytes / 1e6 / seconds,
  };
}
