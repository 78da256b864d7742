/** `agent-relay service install|uninstall`: run `up` as a per-user service. */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { loadInstructions, type ServicePlatform, serviceFile, servicePath } from "../peer/service-files.ts";
import { openStore } from "./agent.ts";
import { CliError } from "./errors.ts";

function platformOf(value: string | undefined): ServicePlatform {
  const p = value ?? process.platform;
  if (p !== "darwin" && p !== "linux")
    throw new CliError(`service: unsupported platform "${p}" (darwin or linux)`);
  return p;
}

export function serviceCommands(program: Command): void {
  const service = program.command("service").description("run `agent-relay up` as a per-user service");

  service
    .command("install")
    .description("write a LaunchAgent (macOS) or systemd user unit (Linux) and say how to load it")
    .option("--platform <name>", "darwin or linux (default: this machine)")
    .option("--print", "print the file instead of writing it")
    .action((o: { platform?: string; print?: boolean }) => {
      const platform = platformOf(o.platform);
      const script = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "agent-relay.js");
      const content = serviceFile(platform, { node: process.execPath, script, home: openStore().home });
      if (o.print) return void process.stdout.write(content);
      const path = servicePath(platform);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content, { mode: 0o644 });
      process.stdout.write(`wrote ${path}\n${loadInstructions(platform, path)}\n`);
    });

  service
    .command("uninstall")
    .description("remove the service file")
    .option("--platform <name>", "darwin or linux (default: this machine)")
    .action((o: { platform?: string }) => {
      const platform = platformOf(o.platform);
      const path = servicePath(platform);
      if (!existsSync(path)) throw new CliError(`no service file at ${path}`);
      rmSync(path);
      process.stdout.write(`removed ${path}; unload the running service if it is loaded\n`);
    });
}
