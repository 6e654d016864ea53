// Every command-line tool, run as `npm run …` runs it: --help is usage and exit 0; a usage
// error is one line and exit 64 (EX_USAGE); neither prints a stack trace or touches a database.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../harness/index.ts";
import { embeddedEnv, runNode, runScript } from "../harness/processes.ts";

const dir = tempDir("cartwheel-cli-");
const env = embeddedEnv(dir.path);
const traces = tempDir("cartwheel-cli-traces-");
afterAll(() => {
  dir.remove();
  traces.remove();
});

const COMMANDS = [
  { script: "src/cli/user-create.ts", usage: "usage: npm run user:create -- --email EMAIL --password PASSWORD --name NAME" },
  { script: "src/cli/migrate.ts", usage: "usage: npm run db:migrate" },
  { script: "src/cli/seed.ts", usage: "usage: npm run db:seed" },
  { script: "src/cli/db-export.ts", usage: "usage: npm run db:export -- <file> [--force]" },
  { script: "src/cli/db-import.ts", usage: "usage: npm run db:import -- <file> [--replace]" },
  { script: "src/cli/partner-key.ts", usage: "usage: npm run partner:key -- <partner-id> [manifest]" },
  { script: "src/cli/category-create.ts", usage: "usage: npm run category:create -- --slug SLUG --name NAME" },
  { script: "src/cli/emit-schema.ts", usage: "usage: npm run schema:emit" },
];

const STACK = /^\s+at /m;

/**
 * What a command loads only once its arguments are checked (src/cli/cli.ts withServices): the
 * server's code, GraphQL, Prisma and the database drivers. --help and usage errors answer without.
 */
const SERVER_CODE = /\/src\/(modules|seed|graphql|app)\/|\/src\/(app|db\/client|db\/backup)\.ts$|\/node_modules\/(graphql|type-graphql|@prisma|@electric-sql|pg)\//;

/** The files `node --import tsx script …args` loads, and how it ended. */
async function traced(script: string, args: string[], name: string) {
  const file = join(traces.path, `${name}.imports`);
  const run = await runNode(["--import", "tsx", "--import", "./test/harness/trace-imports.mjs", script, ...args], { ...env, TRACE_IMPORTS: file });
  return { run, loaded: readFileSync(file, "utf8").trim().split("\n") };
}

describe.each(COMMANDS)("$script", ({ script, usage }) => {
  it("answers --help and -h with its usage, exit 0", async () => {
    const [long, short] = await Promise.all([runScript(script, ["--help"], env), runScript(script, ["-h"], env)]);
    for (const run of [long, short]) {
      expect(run, run.stderr).toMatchObject({ code: 0, stderr: "" });
      expect(run.stdout.startsWith(usage)).toBe(true);
    }
  });

  it("answers an unknown option with one line and exit 64", async () => {
    const run = await runScript(script, ["--no-such-option"], env);
    expect(run.code).toBe(64);
    expect(run.stdout).toBe("");
    expect(run.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(/--no-such-option.*--help/)]);
  });

  it("loads none of the server's code for --help or a usage error", async () => {
    const name = script.replace(/\W/g, "_");
    for (const [args, code] of [[["--help"], 0], [["--no-such-option"], 64]] as const) {
      const { run, loaded } = await traced(script, [...args], `${name}-${code}`);
      expect(run.code, run.stderr).toBe(code);
      expect(loaded).toContainEqual(expect.stringMatching(new RegExp(`${script.replace(".", "\\.")}$`)));
      expect(loaded.filter((url) => SERVER_CODE.test(url))).toEqual([]);
    }
  });
});

it("usage errors of user:create and partner:key are one line and exit 64, before any database is opened", async () => {
  const runs = await Promise.all([
    runScript("src/cli/user-create.ts", ["--email", "ops@example.com"], env),
    runScript("src/cli/user-create.ts", ["--email", "ops@example.com", "--password", "secret-password", "--name", "Ops", "--role", "BOSS"], env),
    runScript("src/cli/user-create.ts", ["--email", "ops@example.com", "stray"], env),
    runScript("src/cli/partner-key.ts", [], env),
    runScript("src/cli/partner-key.ts", ["Not An Id"], env),
    runScript("src/cli/migrate.ts", ["now"], env),
  ]);
  const messages = [/missing --password, --name/, /--role must be CUSTOMER\|STAFF\|ADMIN \(got "BOSS"\)/, /stray/, /missing <partner-id>/, /partner id "Not An Id"/, /now/];
  for (const [index, run] of runs.entries()) {
    expect(run.code, run.stderr).toBe(64);
    expect(run.stderr).not.toMatch(STACK);
    expect(run.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(messages[index]!)]);
  }
  expect(readdirSync(dir.path)).toEqual([]);
});

it("a usage error found in a command's work (missing options, a bad role) loads none of the server's code either", async () => {
  const runs = [
    await traced("src/cli/user-create.ts", ["--email", "ops@example.com", "--password", "secret-password", "--name", "Ops", "--role", "BOSS"], "user-create-role"),
    await traced("src/cli/category-create.ts", ["--slug", "tools"], "category-create-missing"),
  ];
  for (const { run, loaded } of runs) {
    expect(run.code, run.stderr).toBe(64);
    expect(loaded.filter((url) => SERVER_CODE.test(url))).toEqual([]);
  }
});

it("a bad environment is the configuration message and exit 78, not a stack", async () => {
  const run = await runScript("src/cli/migrate.ts", [], { ...env, PORT: "http" });
  expect(run.code).toBe(78);
  expect(run.stderr).toMatch(/PORT must be an integer/);
  expect(run.stderr).not.toMatch(STACK);
});
