/**
 * The least a Node process can do in the middle of a connection: accept, dial `127.0.0.1:<port>`
 * (argv[2]), and `pipe()` bytes both ways, nothing else. Two of these in a row have the tunnel's
 * shape (two processes, three TCP connections) without its framing: the reference a relay and a
 * peer written in Node are held against (bench/download-compare.ts, bench/wrk-compare.ts --pipes).
 * Prints `listening <port>` once ready; exits when its stdin closes (the bench ended).
 */
import { type AddressInfo, connect, createServer } from "node:net";

const target = Number(process.argv[2]);

const server = createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host: "127.0.0.1", port: target, noDelay: true });
  // A FIN travels through `pipe()` (it ends the other side once its writes are out, and neither
  // side stays half open); an error or a reset ends both at once.
  client.pipe(upstream);
  upstream.pipe(client);
  client.on("error", () => upstream.destroy());
  upstream.on("error", () => client.destroy());
});
server.on("error", (err) => {
  process.stderr.write(`pipe hop: ${err.message}\n`);
  process.exit(1);
});

server.listen({ port: 0, host: "127.0.0.1" }, () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();
