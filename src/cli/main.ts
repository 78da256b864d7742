/**
 * The `agent-relay` command line. Each command validates its options, then calls into relay/ or peer/.
 * A command's modules load when it runs: `up` is a long-running process and pays in memory for
 * every module it holds.
 */
import { VERSION } from "../version.ts";
import { agentCommands } from "./agent.ts";
import { Command, Option } from "./commander.ts";
import { CliError } from "./errors.ts";
import { relayCommand } from "./relay.ts";
import { serviceCommands } from "./service.ts";
import { uiCommands } from "./ui.ts";

const program = new Command("agent-relay")
  .description("Put a service on this machine on the public internet at a stable URL.")
  .version(VERSION)
  .showHelpAfterError();

relayCommand(program);
agentCommands(program);
serviceCommands(program);

program
  .command("up")
  .description("run the tunnel peer: one tunnel per enabled agent (or just --agent)")
  .option("--agent <name>", "run only this agent (it need not be enabled)")
  .option("--relay <url>", "relay to dial, for example ws://127.0.0.1:8080 (saved as the default)")
  .option("--target <url>", "local server for --agent, for example http://127.0.0.1:3000 (saved)")
  .option("--agent-id-header <name>", "header carrying the agent UUID (saved; default X-Agent-Id)")
  .option(
    "--agent-address-header <name>",
    "header carrying the agent address (saved; default X-Agent-Address)",
  )
  .option("--relay-origin-header <name>", "header marking relayed requests (saved; default X-Relay-Origin)")
  .option("--max-in-flight <n>", "requests in flight per agent before 503 peer_busy (saved; default 1024)")
  .option(
    "--secure-channel <mode>",
    "Noise channel: auto (on for ws://), always or never (saved; default auto)",
  )
  .addOption(new Option("--log-level <level>", "trace, debug, info, warn, error or silent").default("info"))
  .action(async (o) => (await import("./up.ts")).runUp(o));
uiCommands(program);

program
  .command("status")
  .description(
    "one line per agent from the running `up`: disconnected, connecting, connected <url> or error <reason>",
  )
  .action(async () => (await import("./status.ts")).runStatus());

program
  .command("demo")
  .description("relay, demo agent, local server and peer in one process; prints a working curl line")
  .addOption(new Option("--listen <host:port>", "relay address").default("127.0.0.1:8080"))
  .addOption(new Option("--log-level <level>", "log level").default("warn"))
  .action(async (o) => (await import("./demo.ts")).runDemo(o));

program.parseAsync(process.argv).catch((err: unknown) => {
  if (
    err instanceof CliError ||
    (err instanceof Error && ["StoreError", "ControlError"].includes(err.name))
  ) {
    process.stderr.write(`agent-relay: ${err.message}\n`);
  } else if (err instanceof Error && err.name === "ConfigError") {
    process.stderr.write(`agent-relay: invalid setting ${err.message}\n`);
  } else if (err instanceof Error && (err as NodeJS.ErrnoException).code === "EADDRINUSE") {
    process.stderr.write(`agent-relay: ${err.message}; pick another --listen port\n`);
  } else {
    process.stderr.write(`agent-relay: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  process.exit(1);
});
