// Static checks of the Dockerfile: there is no Docker engine on the machines this project is
// built on, so the image cannot be built here. These tests catch the mistakes a build would
// otherwise reveal only later: missing COPY sources, and entry or migration paths that do not
// match what the TypeScript build emits.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const read = (path: string) => readFileSync(join(root, path), "utf8");

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Splits a Dockerfile into instructions: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending: { parts: string[]; line: number } | null = null;
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line.startsWith("#") || (line === "" && pending === null)) continue;
    const continues = line.endsWith("\\");
    const part = continues ? line.slice(0, -1).trim() : line;
    pending ??= { parts: [], line: index + 1 };
    if (part) pending.parts.push(part);
    if (continues) continue;
    const joined = pending.parts.join(" ");
    const match = /^(\S+)\s*(.*)$/.exec(joined);
    if (match) instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!, line: pending.line });
    pending = null;
  }
  return instructions;
}

function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const words = instruction.args.split(/\s+/).filter((w) => !w.startsWith("--"));
      const as = words.findIndex((w) => w.toUpperCase() === "AS");
      stages.push({ image: words[0] ?? "", name: as >= 0 ? words[as + 1]?.toLowerCase() : undefined, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

/** The words of an exec-form (`["a", "b"]`) or shell-form argument list. */
function words(args: string): string[] {
  const trimmed = args.trim();
  if (trimmed.startsWith("[")) {
    const parsed: unknown = JSON.parse(trimmed);
    if (!Array.isArray(parsed) || !parsed.every((w) => typeof w === "string")) throw new Error(`not a JSON string array: ${args}`);
    return parsed;
  }
  return trimmed.split(/\s+/).filter(Boolean);
}

interface Copy {
  from: string | undefined;
  sources: string[];
  destination: string;
  line: number;
}

function copyOf(instruction: Instruction): Copy {
  const flags: string[] = [];
  let rest = instruction.args.trim();
  for (let flag = /^--\S+\s*/.exec(rest); flag; flag = /^--\S+\s*/.exec(rest)) {
    flags.push(flag[0].trim());
    rest = rest.slice(flag[0].length);
  }
  const all = words(rest);
  const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
  return { from, sources: all.slice(0, -1), destination: all.at(-1) ?? "", line: instruction.line };
}

/** Whether `source` (a path in the build context, possibly with * and ? wildcards) matches anything. */
function contextHas(source: string): boolean {
  const path = source.replace(/^\.\//, "").replace(/\/+$/, "") || ".";
  if (!/[*?[]/.test(path)) return existsSync(join(root, path));
  const dir = dirname(path);
  const base = posix.basename(path);
  const pattern = new RegExp(`^${base.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}$`);
  return existsSync(join(root, dir)) && readdirSync(join(root, dir)).some((entry) => pattern.test(entry));
}

/** JSON with comments (tsconfig) to a value; comments inside strings are left alone. */
function parseJsonc(text: string): unknown {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      const end = /^"(?:[^"\\]|\\.)*"/.exec(text.slice(i));
      out += end?.[0] ?? c;
      i += (end?.[0].length ?? 1) - 1;
    } else if (text.startsWith("//", i)) {
      i = text.indexOf("\n", i) - 1;
      if (i < 0) break;
    } else if (text.startsWith("/*", i)) {
      const end = text.indexOf("*/", i + 2);
      if (end < 0) break;
      i = end + 1;
    } else {
      out += c;
    }
  }
  return JSON.parse(out.replace(/,(\s*[}\]])/g, "$1"));
}

interface CompilerOptions {
  outDir?: string;
  rootDir?: string;
}

/** compilerOptions of a tsconfig, following `extends` chains of relative files. */
function compilerOptions(path: string): CompilerOptions {
  const config = parseJsonc(read(path)) as { extends?: string; compilerOptions?: CompilerOptions };
  const base = config.extends ? compilerOptions(posix.join(posix.dirname(path), config.extends)) : {};
  return { ...base, ...config.compilerOptions };
}

const dockerfile = read("Dockerfile");
const stages = stagesOf(parseDockerfile(dockerfile));
const final = stages.at(-1);
const finalInstructions = final?.instructions ?? [];
const last = (keyword: string) => finalInstructions.filter((i) => i.keyword === keyword).at(-1);

/** WORKDIR of the final stage at the point of `line` (Docker's default is /). */
function workdirAt(line: number): string {
  let dir = "/";
  for (const i of finalInstructions) {
    if (i.line > line) break;
    if (i.keyword === "WORKDIR") dir = posix.resolve(dir, i.args.trim());
  }
  return dir;
}

const cmd = last("CMD");
const cmdWords = cmd ? words(cmd.args) : [];
const entry = cmdWords.find((w) => w.endsWith(".js"));

const build = compilerOptions("tsconfig.build.json");
const outDir = posix.normalize(build.outDir ?? ".");
const rootDir = posix.normalize(build.rootDir ?? ".");
/** Where tsc writes the output of a source file, relative to the project root. */
const emitted = (source: string) => posix.join(outDir, posix.relative(rootDir, source)).replace(/\.ts$/, ".js");

describe("Dockerfile", () => {
  it("has stages", () => {
    expect(stages.length).toBeGreaterThan(0);
  });

  it("copies only files that exist in the build context", () => {
    const copies = stages.flatMap((s) => s.instructions).filter((i) => i.keyword === "COPY" || i.keyword === "ADD").map(copyOf);
    const missing = copies
      .filter((c) => c.from === undefined)
      .flatMap((c) => c.sources.filter((s) => !contextHas(s)).map((s) => `line ${c.line}: ${s}`));
    expect(missing).toEqual([]);
  });

  it("does not copy anything .dockerignore excludes", () => {
    const ignored = read(".dockerignore")
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#") && !l.startsWith("!") && !/[*?[]/.test(l))
      .map((l) => l.replace(/^\/+/, "").replace(/\/+$/, ""));
    const copies = stages.flatMap((s) => s.instructions).filter((i) => i.keyword === "COPY").map(copyOf);
    const clashes = copies
      .filter((c) => c.from === undefined)
      .flatMap((c) => c.sources.map((s) => s.replace(/^\.\//, "").replace(/\/+$/, "")))
      .filter((s) => ignored.some((p) => s === p || s.startsWith(`${p}/`)));
    expect(clashes).toEqual([]);
  });

  it("builds on a current Node.js LTS (22 or 24)", () => {
    const names = new Set<string>();
    for (const stage of stages) {
      if (!names.has(stage.image.toLowerCase())) {
        expect(stage.image, `FROM ${stage.image}`).toMatch(/^(docker\.io\/(library\/)?)?node:(22|24)([.-][^\s]*)?(@sha256:[0-9a-f]{64})?$/);
      }
      if (stage.name) names.add(stage.name);
    }
  });

  it("runs as a user other than root", () => {
    const user = last("USER")?.args.trim();
    expect(user, "the final stage sets USER").toBeTruthy();
    expect(user).not.toMatch(/^(root|0)(:.*)?$/);
  });

  it("has a health check on /health/ready", () => {
    const healthcheck = last("HEALTHCHECK")?.args ?? "";
    expect(healthcheck).not.toMatch(/^NONE\b/i);
    expect(healthcheck).toContain("/health/ready");
  });

  it("starts the compiled entry point of src/main.ts", () => {
    expect(cmdWords[0]).toBe("node");
    expect(entry).toBeDefined();
    const relative = posix.relative(workdirAt(cmd!.line), posix.resolve(workdirAt(cmd!.line), entry!));
    expect(relative).toBe(emitted("src/main.ts"));
    expect(existsSync(join(root, "src/main.ts"))).toBe(true);
  });

  it("puts the migrations where the compiled migration applier reads them", () => {
    const source = read("src/db/migrate.ts");
    const url = /new URL\("([^"]*migrations[^"]*)",\s*import\.meta\.url\)/.exec(source)?.[1];
    expect(url, "src/db/migrate.ts locates migrations with new URL(..., import.meta.url)").toBeDefined();
    const workdir = workdirAt(cmd!.line);
    const applier = posix.resolve(workdir, emitted("src/db/migrate.ts"));
    const expected = posix.resolve(posix.dirname(applier), url!);
    const copies = finalInstructions.filter((i) => i.keyword === "COPY").map(copyOf);
    const landed = copies
      .filter((c) => c.sources.some((s) => s.replace(/\/+$/, "").endsWith("prisma/migrations")))
      .map((c) => posix.resolve(workdirAt(c.line), c.destination));
    expect(landed).toContain(expected);
    expect(existsSync(join(root, "prisma/migrations/migration_lock.toml"))).toBe(true);
  });

  it("builds with package.json's build script", () => {
    const pkg = JSON.parse(read("package.json")) as { scripts?: Record<string, string> };
    expect(pkg.scripts?.build).toBeTruthy();
    expect(stages.flatMap((s) => s.instructions).some((i) => i.keyword === "RUN" && /\bnpm run build\b/.test(i.args))).toBe(true);
  });
});

describe(".dockerignore", () => {
  const patterns = read(".dockerignore")
    .split(/\r?\n/)
    .map((l) => l.trim().replace(/^(\*\*\/|\/)/, "").replace(/\/+$/, ""))
    .filter((l) => l && !l.startsWith("#"));

  it.each(["node_modules", ".data"])("excludes %s", (path) => {
    expect(patterns).toContain(path);
  });
});
