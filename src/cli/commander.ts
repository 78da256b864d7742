/**
 * commander's classes, loaded with `require`: importing the package as an ES module would also
 * parse its CommonJS source for export names, work every CLI start would pay for.
 */
import { createRequire } from "node:module";
import type * as Commander from "commander";

export const { Command, Option } = createRequire(import.meta.url)("commander") as typeof Commander;
