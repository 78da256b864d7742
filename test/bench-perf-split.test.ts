/**
 * The bench's split of perf samples (bench/lib/perf-split.ts), fed `perf script -F pid,ip,sym,dso`
 * text of the shape perf 6 prints: a line with the pid, then one tab-indented frame a line, innermost
 * first, then a blank line.
 */
import { describe, expect, it } from "vitest";
import { checkPerf, classify, describeSplit, SampleSplitter } from "../bench/lib/perf-split.ts";

const MAP = "(/tmp/perf-7248.map)";
const NODE = "(/usr/bin/node)";
const KERNEL = "([kernel.kallsyms])";

function sample(pid: number, ...frames: string[]): string[] {
  return [`  ${pid} `, ...frames.map((f, i) => `\t    ${(0x7f00 + i).toString(16)} ${f}`), ""];
}

describe("classify", () => {
  const f = (sym: string, dso: string) => [sym, dso] as const;

  it("counts a sample in the kernel as kernel time, whoever made the syscall", () => {
    expect(
      classify([f("tcp_sendmsg", "[kernel.kallsyms]"), f("JS:*write file:///w/dist/relay/x.js:1:1", "m")]),
    ).toEqual(["kernel", "kernel"]);
  });

  it("charges builtins and native code to the innermost JavaScript frame", () => {
    const builtin = f("Builtins_StringIndexOf", "/usr/bin/node");
    expect(
      classify([builtin, f("JS:*scan file:///work/main/dist/relay/forward-headers.js:1:2", "m")]),
    ).toEqual(["ours", "ours: relay"]);
    expect(
      classify([builtin, f("JS:*getData /work/main/node_modules/ws/lib/receiver.js:480:10", "m")]),
    ).toEqual(["packages", "package: ws"]);
    expect(classify([f("JS:*x /work/main/node_modules/@libp2p/yamux/dist/src/muxer.js:1:1", "m")])).toEqual([
      "packages",
      "package: @libp2p/yamux",
    ]);
    expect(classify([builtin, f("JS:*addChunk node:internal/streams/readable:550:18", "m")])).toEqual([
      "node runtime",
      "node: readable",
    ]);
    expect(classify([f("JS:*onStreamRead node:internal/stream_base_commons:168:22", "m")])).toEqual([
      "node runtime",
      "node: stream_base_commons",
    ]);
    expect(classify([f("JS:*from node:buffer:295:28", "m")])).toEqual([
      "node buffer and crypto",
      "node: buffer",
    ]);
    expect(classify([f("JS:*randomUUID node:internal/crypto/random:402:20", "m")])).toEqual([
      "node buffer and crypto",
      "node: random",
    ]);
  });

  it("counts kernel modules and unnamed kernel addresses as kernel, and the vDSO as user space", () => {
    const js = f("JS:*a file:///work/main/dist/relay/a.js:1:1", "m");
    expect(classify([["nf_hook_slow", "[nf_tables]"], js])[0]).toBe("kernel");
    expect(classify([["[unknown]", "[unknown]", 0xffffffff81ea8ebcn], js])[0]).toBe("kernel");
    expect(classify([["[unknown]", "[unknown]", 0x7f85cc118443n], js])).toEqual(["ours", "ours: relay"]);
    expect(classify([["__vdso_clock_gettime", "[vdso]"], js])).toEqual(["ours", "ours: relay"]);
  });

  it("puts every crypto and util module among the helpers, whatever its last name", () => {
    for (const mod of ["internal/crypto/hash", "internal/crypto/random", "internal/util/types", "buffer"])
      expect(classify([f(`JS:*x node:${mod}:1:1`, "m")])[0], mod).toBe("node buffer and crypto");
    expect(classify([f("JS:*x node:internal/streams/writable:1:1", "m")])[0]).toBe("node runtime");
  });

  it("tells the collector from the rest of the native code when no JavaScript is on the stack", () => {
    expect(classify([f("v8::internal::ScavengerCollector::JobTask::Run", "/usr/bin/node")])).toEqual([
      "gc",
      "gc",
    ]);
    expect(classify([f("uv__io_poll", "/usr/bin/node"), f("uv_run", "/usr/bin/node")])).toEqual([
      "node runtime",
      "native",
    ]);
    expect(classify([])).toEqual(["node runtime", "native: unknown"]);
  });
});

describe("SampleSplitter", () => {
  it("splits the samples of the processes asked for and skips the others", () => {
    const lines = [
      ...sample(7248, `tcp_ack ${KERNEL}`, `__GI___writev (/usr/lib/libc.so.6)`),
      ...sample(
        7248,
        `Builtins_LoadIC ${NODE}`,
        `JS:*next file:///work/main/dist/relay/h1-lane.js:125:9 ${MAP}`,
      ),
      ...sample(7248, `JS:*parseHead file:///work/main/dist/protocol/request-head.js:118:26 ${MAP}`),
      ...sample(9999, `JS:*other file:///work/main/dist/relay/h1-lane.js:1:1 ${MAP}`),
      ...sample(7292, `v8::internal::Heap::Scavenge ${NODE}`),
      // A symbol with spaces and parentheses of its own.
      ...sample(7292, `node::LibuvStreamWrap::ReadStart()::{lambda(uv_stream_s*, long)#2}::_FUN ${NODE}`),
    ];
    const splitter = new SampleSplitter([7248, 7292]);
    for (const l of lines) splitter.line(l);
    const out = splitter.result();
    expect([...out.keys()]).toEqual([7248, 7292]);
    const relay = out.get(7248)!;
    expect(relay.samples).toBe(3);
    expect(relay.groups).toMatchObject({ kernel: 1, ours: 2, gc: 0 });
    expect(Object.fromEntries(relay.categories)).toEqual({
      kernel: 1,
      "ours: relay": 1,
      "ours: protocol": 1,
    });
    const peer = out.get(7292)!;
    expect(peer.samples).toBe(2);
    expect(peer.groups).toMatchObject({ gc: 1, "node runtime": 1 });
    expect(peer.categories.get("native")).toBe(1);
  });

  it("counts the last sample of the output even without a blank line after it", () => {
    const splitter = new SampleSplitter([7248]);
    for (const l of sample(7248, `tcp_ack ${KERNEL}`).slice(0, -1)) splitter.line(l);
    expect(splitter.result().get(7248)!.samples).toBe(1);
  });
});

describe("describeSplit", () => {
  it("turns sample counts into shares of the CPU per unit, naming our folders", () => {
    const splitter = new SampleSplitter([1]);
    const lines = [
      ...sample(1, `tcp_ack ${KERNEL}`),
      ...sample(1, `tcp_ack ${KERNEL}`),
      ...sample(1, `JS:*a file:///work/main/dist/relay/a.js:1:1 ${MAP}`),
      ...sample(1, `JS:*b file:///work/main/dist/yamux/b.js:1:1 ${MAP}`),
    ];
    for (const l of lines) splitter.line(l);
    const line = describeSplit("relay", splitter.result().get(1)!, 40, (v) => `${v.toFixed(1)} us`);
    expect(line).toBe(
      "relay 40.0 us: kernel 20.0 us, ours 20.0 us (relay 10.0 us, yamux 10.0 us) [4 samples]",
    );
    expect(describeSplit("peer", new SampleSplitter([2]).result().get(2)!, 10, String)).toBe(
      "peer: no samples",
    );
  });
});

describe("checkPerf", () => {
  it("says in one line how to get perf when it is not on the PATH", async () => {
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      await expect(checkPerf()).rejects.toThrow(/perf is not installed: run `bash scripts\/setup-system.sh`/);
    } finally {
      process.env.PATH = path;
    }
  });
});
