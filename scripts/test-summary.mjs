// Prints one plain closing line from vitest's JSON report: "<N> passed, <N> failed".
import { readFileSync } from "node:fs";

const report = JSON.parse(readFileSync("test-output/vitest.json", "utf8"));
const skipped = report.numPendingTests + report.numTodoTests;
console.log(`Tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(report.numFailedTests > 0 || report.numTotalTests === 0 ? 1 : 0);
