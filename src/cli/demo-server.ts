/** The small local server `agent-relay demo` puts behind the tunnel: it echoes what it received. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export async function startDemoServer(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on("data", (c: Buffer) => {
      bytes += c.byteLength;
    });
    req.on("end", () => {
      const body = JSON.stringify(
        {
          hello: "from the local demo server, through the tunnel",
          method: req.method,
          path: req.url,
          agentId: req.headers["x-agent-id"] ?? null,
          agentAddress: req.headers["x-agent-address"] ?? null,
          forwardedFor: req.headers["x-forwarded-for"] ?? null,
          bodyBytes: bytes,
        },
        null,
        2,
      );
      res.writeHead(200, { "content-type": "application/json" });
      res.end(`${body}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
