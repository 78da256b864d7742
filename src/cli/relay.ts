/** `agent-relay relay`: run a relay node until SIGINT/SIGTERM. */
import { type Command, Option } from "commander";
import { createRelay } from "../relay/server.ts";
import { createLogger } from "./log.ts";
import { parseInteger, parseListen } from "./parse.ts";

export function relayCommand(program: Command): void {
  program
    .command("relay")
    .description("run a relay node")
    .addOption(new Option("--listen <host:port>", "address to listen on").default("127.0.0.1:8080"))
    .addOption(
      new Option("--domain <domain>", "base domain; agents are served at <address>.<domain>").default(
        "localhost",
      ),
    )
    .option("--public-url <url>", "public base URL when behind a proxy (default http://<domain>:<port>)")
    .option(
      "--origin <url...>",
      "extra relay origins peers may sign for (for example wss://relay.example.com)",
    )
    .addOption(new Option("--max-streams <n>", "concurrent requests per tunnel").default("4096"))
    .addOption(new Option("--log-level <level>", "trace, debug, info, warn, error or silent").default("info"))
    .action(async (o) => {
      const { host, port } = parseListen(o.listen);
      const log = createLogger(o.logLevel, "relay");
      const relay = createRelay(
        {
          host,
          port,
          domain: o.domain,
          ...(o.publicUrl ? { publicBaseUrl: o.publicUrl } : {}),
          extraOrigins: o.origin ?? [],
          maxStreamsPerTunnel: parseInteger(o.maxStreams, "--max-streams", 1),
          logLevel: o.logLevel,
        },
        log,
      );
      const bound = await relay.listen();
      process.stdout.write(`relay listening on ${host}:${bound}; agents at ${relay.urlFor("<address>")}\n`);
      const stop = async () => {
        await relay.close();
        process.exit(0);
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
}
