import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openBrowser, openerCommand } from "../../src/peer/ui/open-browser.ts";
import { requestSignInUrl } from "../../src/peer/ui/sign-in.ts";
import { readUiFile, removeUiFile, writeUiFile } from "../../src/peer/ui/ui-file.ts";
import { tempHome } from "../helpers/cli.ts";
import { startLocalServer } from "../helpers/harness.ts";

const home = tempHome;

describe("agent-relay ui, the parts that run without a browser", () => {
  it("says plainly when no page runs, and when the file is stale", async () => {
    const h = home();
    await expect(requestSignInUrl(h)).rejects.toThrow(/no management page is running .* `agent-relay up`/);
    // A file left by a peer that died: nothing listens on its port any more.
    const gone = await startLocalServer(() => {});
    await new Promise<void>((r) => gone.server.close(() => r()));
    writeUiFile(h, { pid: 1, port: gone.port, token: "t" });
    await expect(requestSignInUrl(h)).rejects.toThrow(/no management page answers/);
    writeFileSync(join(h, "ui.json"), "{");
    expect(() => readUiFile(h)).toThrow(/not valid JSON/);
  });

  it("removes only its own file", () => {
    const h = home();
    writeUiFile(h, { pid: 12345, port: 1, token: "t" });
    removeUiFile(h, 999);
    expect(readUiFile(h).pid).toBe(12345);
    removeUiFile(h, 12345);
    expect(() => readUiFile(h)).toThrow(/no management page is running/);
  });

  it("uses $BROWSER, else open on macOS and xdg-open elsewhere", () => {
    expect(openerCommand({ BROWSER: "firefox" }, "linux")).toBe("firefox");
    expect(openerCommand({}, "darwin")).toBe("open");
    expect(openerCommand({}, "linux")).toBe("xdg-open");
  });

  it("reports whether a browser opener ran, and passes it the link", async () => {
    const h = home();
    const script = join(h, "fake-browser.sh");
    writeFileSync(script, `#!/bin/sh\nprintf '%s' "$1" > "${join(h, "opened")}"\n`);
    chmodSync(script, 0o755);
    expect(await openBrowser("http://127.0.0.1:1/login?code=abc", script)).toBe(true);
    expect(readFileSync(join(h, "opened"), "utf8")).toBe("http://127.0.0.1:1/login?code=abc");
    expect(await openBrowser("http://127.0.0.1:1/", "/bin/false")).toBe(false);
    expect(await openBrowser("http://127.0.0.1:1/", join(h, "no-such-opener"))).toBe(false);
  });
});
