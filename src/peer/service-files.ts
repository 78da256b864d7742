/**
 * Files that run `agent-relay up` as a per-user service: a LaunchAgent plist on macOS, a systemd
 * user unit on Linux. Pure functions of their inputs, so tests check the exact content.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { NODE_FLAGS } from "../cli/node-flags.ts";

export const SERVICE_LABEL = "ai.agentrelay.peer";
export const SYSTEMD_UNIT = "agent-relay.service";

export interface ServiceSpec {
  /** Absolute path of node. */
  node: string;
  /** Absolute path of bin/agent-relay.js. */
  script: string;
  /** The config folder the service uses (AGENT_RELAY_HOME). */
  home: string;
}

export type ServicePlatform = "darwin" | "linux";

export function servicePath(platform: ServicePlatform, userHome = homedir()): string {
  return platform === "darwin"
    ? join(userHome, "Library", "LaunchAgents", `${SERVICE_LABEL}.plist`)
    : join(userHome, ".config", "systemd", "user", SYSTEMD_UNIT);
}

function xml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function launchdPlist(spec: ServiceSpec): string {
  const args = [spec.node, ...NODE_FLAGS, spec.script, "up"]
    .map((a) => `    <string>${xml(a)}</string>`)
    .join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${SERVICE_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${args}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>AGENT_RELAY_HOME</key>
    <string>${xml(spec.home)}</string>
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <true/>
  <key>StandardOutPath</key>
  <string>${xml(join(spec.home, "peer.log"))}</string>
  <key>StandardErrorPath</key>
  <string>${xml(join(spec.home, "peer.log"))}</string>
</dict>
</plist>
`;
}

/** systemd quoting: wrap in double quotes, escape backslash, quote and percent. */
function sdQuote(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%")}"`;
}

export function systemdUnit(spec: ServiceSpec): string {
  return `[Unit]
Description=Agent Relay tunnel peer
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
Environment=${sdQuote(`AGENT_RELAY_HOME=${spec.home}`)}
ExecStart=${[spec.node, ...NODE_FLAGS, spec.script].map(sdQuote).join(" ")} up
Restart=always
RestartSec=2

[Install]
WantedBy=default.target
`;
}

export function serviceFile(platform: ServicePlatform, spec: ServiceSpec): string {
  return platform === "darwin" ? launchdPlist(spec) : systemdUnit(spec);
}

export function loadInstructions(platform: ServicePlatform, path: string): string {
  return platform === "darwin"
    ? `load it with:   launchctl bootstrap gui/$(id -u) ${path}\nunload it with: launchctl bootout gui/$(id -u) ${path}`
    : `load it with:   systemctl --user daemon-reload && systemctl --user enable --now ${SYSTEMD_UNIT}\n` +
        `unload it with: systemctl --user disable --now ${SYSTEMD_UNIT}`;
}
