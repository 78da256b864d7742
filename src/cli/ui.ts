/**
 * `agent-relay ui`: opens the running peer's management page in the browser, signed in (a one-time
 * link; the token stays in the 0600 file). Also adds `--ui-port` and `--no-ui` to `up`.
 */
import type { Command } from "commander";
import { DEFAULT_UI_PORT } from "../peer/ui/ui-file.ts";
import { Option } from "./commander.ts";

export async function runUi(o: { print?: boolean }): Promise<void> {
  const [{ openBrowser }, { requestSignInUrl }, { openStore }] = await Promise.all([
    import("../peer/ui/open-browser.ts"),
    import("../peer/ui/sign-in.ts"),
    import("./agent.ts"),
  ]);
  const url = await requestSignInUrl(openStore().home);
  if (!o.print && (await openBrowser(url))) {
    process.stdout.write(`opened the management page at ${new URL(url).origin}/\n`);
    return;
  }
  if (!o.print) process.stdout.write("could not start a browser; ");
  process.stdout.write(`open this link within 2 minutes to sign in (it works once):\n  ${url}\n`);
}

/** Registers `ui`, and the page's options on the `up` command defined in main.ts. */
export function uiCommands(program: Command): void {
  const up = program.commands.find((c) => c.name() === "up");
  up?.addOption(
    new Option(
      "--ui-port <n>",
      `port of the management page on 127.0.0.1 (0 = any free port; default ${DEFAULT_UI_PORT})`,
    ),
  ).option("--no-ui", "do not serve the management page");
  program
    .command("ui")
    .description("open the running peer's management page in the browser, signed in")
    .option("--print", "print a one-time sign-in link instead of opening a browser")
    .action(async (o: { print?: boolean }) => runUi(o));
}
