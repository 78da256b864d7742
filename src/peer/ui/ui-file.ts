/**
 * `<home>/ui.json`, mode 0600: where the running `up` tells `agent-relay ui` its page's port and
 * token. Written atomically; removed when `up` stops.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The page's port when `up` is given no --ui-port (if taken, `up` takes any free one). */
export const DEFAULT_UI_PORT = 7070;

export interface UiFile {
  pid: number;
  port: number;
  token: string;
}

export class UiFileError extends Error {
  override name = "UiFileError";
}

export function uiFilePath(home: string): string {
  return join(home, "ui.json");
}

export function writeUiFile(home: string, info: UiFile): void {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const path = uiFilePath(home);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(info)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

export function readUiFile(home: string): UiFile {
  const path = uiFilePath(home);
  if (!existsSync(path)) {
    throw new UiFileError(
      "no management page is running for this config folder; start it with `agent-relay up`",
    );
  }
  let info: Partial<UiFile>;
  try {
    info = JSON.parse(readFileSync(path, "utf8")) as Partial<UiFile>;
  } catch {
    throw new UiFileError(`${path} is not valid JSON; restart \`agent-relay up\``);
  }
  if (typeof info.port !== "number" || typeof info.token !== "string" || typeof info.pid !== "number") {
    throw new UiFileError(`${path} is not a management page file; restart \`agent-relay up\``);
  }
  return info as UiFile;
}

/** Removes the file if it is still this process's (a newer `up` may have replaced it). */
export function removeUiFile(home: string, pid = process.pid): void {
  try {
    if (readUiFile(home).pid === pid) rmSync(uiFilePath(home), { force: true });
  } catch {
    // Already gone or unreadable: nothing of ours to remove.
  }
}
