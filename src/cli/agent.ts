/** `agent-relay agent ...`: create, list, show, remove, enable, disable, set, export-address. */
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { defaultHome, Store } from "../peer/store.ts";
import { checkTarget } from "../peer/target-check.ts";
import { CliError } from "./errors.ts";
import { parseHttpUrl } from "./parse.ts";

export function openStore(): Store {
  return new Store(defaultHome());
}

function publicUrlHint(store: Store, address: string): string {
  const relay = store.load().relay;
  if (!relay) return "(known once `agent-relay up` connects)";
  const u = new URL(relay);
  const scheme = u.protocol === "wss:" || u.protocol === "https:" ? "https" : "http";
  return `${scheme}://${address.slice(2).toLowerCase()}.<relay domain> (exact URL printed by \`agent-relay up\`)`;
}

export function agentCommands(program: Command): void {
  const agent = program.command("agent").description("manage agent identities (keys are kept in 0600 files)");

  agent
    .command("create <name>")
    .description("create an agent: a new secp256k1 key and a UUID")
    .option("--target <url>", "its local server, for example http://127.0.0.1:3000")
    .action((name: string, o: { target?: string }) => {
      if (o.target) parseHttpUrl(o.target, "--target");
      const store = openStore();
      const { record } = store.createAgent(name, o.target);
      process.stdout.write(
        `created agent ${record.name}\naddress: ${record.address}\nid:      ${record.id}\n`,
      );
      process.stdout.write(`key:     ${store.keyPath(name)} (mode 0600; never share it)\n`);
    });

  agent
    .command("list")
    .description("list agents")
    .action(() => {
      const agents = openStore().load().agents;
      if (agents.length === 0)
        return void process.stdout.write("no agents; create one with `agent-relay agent create <name>`\n");
      for (const a of agents) {
        process.stdout.write(
          `${a.name}\t${a.address}\t${a.enabled ? "enabled" : "disabled"}\t${a.target ?? "(no target)"}\n`,
        );
      }
    });

  agent
    .command("show <name>")
    .description("show an agent's public details (never its key)")
    .action((name: string) => {
      const store = openStore();
      const a = store.find(name);
      process.stdout.write(
        `name:    ${a.name}\naddress: ${a.address}\nid:      ${a.id}\ntarget:  ${a.target ?? "(none)"}\n` +
          `enabled: ${a.enabled}\nurl:     ${publicUrlHint(store, a.address)}\n`,
      );
    });

  agent
    .command("export-address <name>")
    .description("print only the agent's address")
    .action((name: string) => {
      process.stdout.write(`${openStore().find(name).address}\n`);
    });

  agent
    .command("remove <name>")
    .description("delete an agent and its key")
    .action((name: string) => {
      openStore().removeAgent(name);
      process.stdout.write(`removed agent ${name}\n`);
    });

  agent
    .command("set <name>")
    .description("change an agent's settings")
    .requiredOption("--target <url>", "its local server")
    .action((name: string, o: { target: string }) => {
      parseHttpUrl(o.target, "--target");
      openStore().update(name, (a) => {
        a.target = o.target;
      });
      process.stdout.write(`agent ${name} now forwards to ${o.target}\n`);
    });

  agent
    .command("enable <name>")
    .description("make an agent publicly reachable while `agent-relay up` runs (asks first)")
    .option("--yes", "confirm without asking")
    .option("--probe-path <path...>", "also check these paths answer only with credentials")
    .action(async (name: string, o: { yes?: boolean; probePath?: string[] }) => {
      const store = openStore();
      const a = store.find(name);
      if (a.target) {
        const verdict = await checkTarget(a.target, o.probePath ?? []);
        if (verdict.kind === "unprotected") {
          process.stdout.write(
            `WARNING: ${new URL(verdict.path, a.target).href} answered ${verdict.status} without any credentials; ` +
              "the server looks unprotected.\n",
          );
        } else if (verdict.kind === "unreachable") {
          process.stdout.write(`note: could not reach ${a.target} to check it (${verdict.reason})\n`);
        }
      }
      process.stdout.write(
        `Enabling ${a.name} makes its local server (${a.target ?? "no target set"}) reachable from the public internet at\n` +
          `  ${publicUrlHint(store, a.address)}\n` +
          "Anyone with that URL can send requests to it. The server's own access keys remain the only protection.\n",
      );
      if (!o.yes) {
        if (!process.stdin.isTTY) {
          throw new CliError(`not enabling ${name}: no terminal to confirm on; pass --yes to confirm`);
        }
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question(`Enable public access for ${name}? [y/N] `);
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) {
          process.stdout.write(`${name} left disabled\n`);
          return;
        }
      }
      store.update(name, (r) => {
        r.enabled = true;
      });
      process.stdout.write(`${name} enabled\n`);
    });

  agent
    .command("disable <name>")
    .description("stop exposing an agent")
    .action((name: string) => {
      openStore().update(name, (r) => {
        r.enabled = false;
      });
      process.stdout.write(`${name} disabled\n`);
    });
}
