/**
 * The least a Node process can do in the middle of a connection: accept, dial `127.0.0.1:<port>`
 * (argv[2]), and `pipe()` bytes both ways, nothing else. Two of these in a row have the tunnel's
 * shape (two processes, three TCP connections) without its framing, so they are the floor under
 * any tunnel whose relay and peer are Node processes (bench/download-compare.ts).
 * Prints `listening <port>` once ready; exits when its stdin closes (the bench ended).
 */
import { type AddressInfo, connect, createServer } from "node:net";

const target = Number(process.argv[2]);

const server = createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host: "127.0.0.1", port: target, noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  // Either side's end or error ends both; "close" follows every error.
  for (const [a, b] of [
    [client, upstream],
    [upstream, client],
  ] as const) {
    a.on("error", () => {});
    a.on("close", () => b.destroy());
  }
});

server.listen({ port: 0, host: "127.0.0.1" }, () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();
