/** The package version, reported by /health and `--version`. */
export const VERSION = "0.1.0";
