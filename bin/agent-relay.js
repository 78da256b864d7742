#!/usr/bin/env -S node --initial-old-space-size=64
// Entry point for the `agent-relay` command. The TypeScript sources are compiled to dist/ by
// `npm install` (the `prepare` script) and by `npm test`. The shebang's V8 flags are the ones in
// src/cli/node-flags.ts (a test keeps them equal).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write(
    "agent-relay: not built yet; run `npm install` (or `npm run build`) in the project folder\n",
  );
  process.exit(1);
}
await import(main.href);
