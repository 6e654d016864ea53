// `node --import tsx --import ./test/harness/trace-imports.mjs …` with TRACE_IMPORTS=<file>: every
// module the process loads (its URL, one per line) is appended to that file, so a test can check
// what a command loads for --help (test/e2e/cli.test.ts).
import { register } from "node:module";

register("./trace-imports.hooks.mjs", import.meta.url, { data: { file: process.env.TRACE_IMPORTS } });
