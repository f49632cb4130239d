/** The package version (package.json's), for `--version` and the producer field of exported files. */
export const VERSION = '0.1.0';
