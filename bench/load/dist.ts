/**
 * Loads modules from the compiled dist/ (what users run), typed by their sources in src/.
 * `npm run bench` builds first.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT } from "../lib/procs.ts";

export async function fromDist<T>(relative: string): Promise<T> {
  const file = join(ROOT, "dist", relative);
  if (!existsSync(file)) throw new Error(`${file} is missing; run \`npm run build\` first`);
  return (await import(pathToFileURL(file).href)) as T;
}
