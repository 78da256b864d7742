/**
 * Opens a URL in the user's browser: $BROWSER if set, else `open` (macOS) or `xdg-open`. Resolves
 * with true once the opener started and did not fail at once, false when none could run.
 */
import { spawn } from "node:child_process";

/** An opener that has not failed after this long is taken to be showing the page. */
const SETTLE_MS = 3000;

export function openerCommand(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string {
  if (env.BROWSER) return env.BROWSER;
  return platform === "darwin" ? "open" : "xdg-open";
}

export function openBrowser(url: string, command = openerCommand()): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(ok);
    };
    const child = spawn(command, [url], { stdio: "ignore", detached: true });
    const timer = setTimeout(() => {
      child.unref();
      finish(true);
    }, SETTLE_MS);
    child.on("error", () => finish(false));
    child.on("exit", (code) => finish(code === 0));
  });
}
