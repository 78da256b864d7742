/** A TCP proxy on 127.0.0.1 that can freeze its current connections: a network stall, not a close. */
import { connect, createServer, type Server, type Socket } from "node:net";

export interface StallProxy {
  port: number;
  /** Stops moving bytes on every current connection; new connections still work. */
  freeze(): void;
  connections(): number;
  close(): Promise<void>;
}

/** `targetPort` may be a function, read at each new connection (so the target can start later). */
export async function startStallProxy(targetPort: number | (() => number)): Promise<StallProxy> {
  const pairs = new Set<[Socket, Socket]>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({
      host: "127.0.0.1",
      port: typeof targetPort === "number" ? targetPort : targetPort(),
    });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      pairs.delete(pair);
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    freeze() {
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
      pairs.clear();
    },
    connections: () => pairs.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
