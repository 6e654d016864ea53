// The README and docs/ are read in a user's clone: every relative link must name a file of the
// repository (never ../shared/ or anything else outside it), and every #anchor a heading. And
// docs/contract.md's schema is the binding one: schema.graphql must have every name it lists.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType, GraphQLScalarType, buildSchema, parse, print, type ConstDirectiveNode, type DefinitionNode, type GraphQLSchema } from "graphql";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The Markdown files users read: README.md and everything under docs/. */
function documents(): string[] {
  const docs = join(ROOT, "docs");
  const found = ["README.md"];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".md")) found.push(relative(ROOT, path).split(sep).join("/"));
    }
  };
  if (existsSync(docs)) walk(docs);
  return found;
}

/**
 * The files a clone has: tracked, or new and not ignored (a doc added in the same change). A
 * generated or ignored file (dist/, node_modules/, .data/) exists here but not in a clone.
 */
function repositoryFiles(): Set<string> {
  try {
    const out = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return new Set(out.split("\0").filter(Boolean));
  } catch {
    // No git here (an exported tree): every file but what is built, installed or generated.
    const files = new Set<string>();
    const skip = new Set([".git", "node_modules", "dist", ".data", "src/generated"]);
    const walk = (dir: string) => {
      for (const name of readdirSync(join(ROOT, dir))) {
        const path = dir ? `${dir}/${name}` : name;
        if (skip.has(path) || skip.has(name)) continue;
        if (statSync(join(ROOT, path)).isDirectory()) walk(path);
        else files.add(path);
      }
    };
    walk("");
    return files;
  }
}

/** The text with fenced code blocks blanked (their lines kept, so line numbers stay right). */
function withoutFences(text: string): string[] {
  let fence: string | undefined;
  return text.split("\n").map((line) => {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && marker) {
      fence = marker;
      return "";
    }
    if (fence !== undefined) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) fence = undefined;
      return "";
    }
    return line;
  });
}

/** GitHub's anchor for a heading's text (github-slugger): lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // [text](url) -> text
    .replace(/<[^>]+>/g, "")
    .replace(/`/g, "");
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of a Markdown text's ATX headings (`## Title`), duplicates numbered as GitHub does. */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutFences(text)) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

interface Link {
  line: number;
  target: string;
}

/** Inline links and images `[text](target)`, reference definitions `[ref]: target`, and HTML href/src. */
function linksOf(text: string): Link[] {
  const links: Link[] = [];
  withoutFences(text).forEach((raw, index) => {
    // Code spans are not links (`[a](b)` in backticks), but a link's text may be one.
    const line = raw.replace(/(`+)(?!`)[\s\S]*?(?<!`)\1(?!`)/g, (span) => "x".repeat(span.length));
    const add = (target: string) => links.push({ line: index + 1, target });
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g)) add(m[1]!);
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(line);
    if (definition) add(definition[1]!);
    for (const m of line.matchAll(/\b(?:href|src)\s*=\s*["']([^"']*)["']/g)) add(m[1]!);
  });
  return links;
}

/**
 * What is wrong with the links of `file` (a path from the repository root) whose text is `text`:
 * one line per link that leaves the repository, names no file of it, or names a missing heading.
 */
function brokenLinks(file: string, text: string, files: ReadonlySet<string>, read: (path: string) => string): string[] {
  const problems: string[] = [];
  for (const { line, target } of linksOf(text)) {
    const where = `${file}:${line}: ${target || "(empty)"}`;
    if (target === "") {
      problems.push(`${where}: empty link`);
      continue;
    }
    // http:, https:, mailto: …: not a file of the repository, and not checked here.
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const hash = target.indexOf("#");
    const pathPart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
    const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
    let path = file;
    if (pathPart !== "") {
      const absolute = resolve(ROOT, dirname(file), pathPart);
      const inRepo = relative(ROOT, absolute).split(sep).join("/");
      // GitHub reads "/x" from the repository's root, other renderers from the host's: say "x" or "../x".
      if (isAbsolute(pathPart)) {
        problems.push(`${where}: an absolute path (write it relative to ${file})`);
        continue;
      }
      if (inRepo.startsWith("..") || isAbsolute(inRepo)) {
        problems.push(`${where}: outside the repository (a clone has only the repository's files)`);
        continue;
      }
      const isDirectory = inRepo === "" || [...files].some((f) => f.startsWith(`${inRepo}/`));
      if (!files.has(inRepo) && !isDirectory) {
        problems.push(`${where}: no such file in the repository`);
        continue;
      }
      path = inRepo;
    }
    if (anchor !== undefined && anchor !== "" && path.endsWith(".md") && !anchorsOf(pathPart === "" ? text : read(path)).has(anchor)) {
      problems.push(`${where}: no heading #${anchor} in ${path}`);
    }
  }
  return problems;
}

const readFromRoot = (path: string) => readFileSync(join(ROOT, path), "utf8");

describe("links in README.md and docs/", () => {
  it("every relative link names a file of the repository, and every anchor a heading", () => {
    const files = repositoryFiles();
    const docs = documents();
    expect(docs).toEqual(expect.arrayContaining(["README.md", "docs/architecture.md", "docs/contract.md", "docs/conventions.md"]));
    const problems = docs.flatMap((file) => brokenLinks(file, readFromRoot(file), files, readFromRoot));
    expect(problems, problems.join("\n")).toEqual([]);
  });

  it("the check refuses links outside the repository, to missing files and to missing headings", () => {
    const files = repositoryFiles();
    const text = [
      "# Title",
      "See [the contract](../shared/API.md) and [style](../shared/STYLE.md#layout).", // outside: a clone has no ../shared/
      "[gone](docs/no-such-page.md), [built](dist/src/main.js), [heading](#no-such-heading),",
      "[ref]: /etc/passwd",
      "Fine: [title](#title), [readme](README.md#quick-start), [k8s](deploy/k8s), [web](https://example.com), `[code](../x.md)`.",
      "```md",
      "[in a fence](../shared/API.md)",
      "```",
    ].join("\n");
    expect(brokenLinks("README.md", text, files, readFromRoot)).toEqual([
      "README.md:2: ../shared/API.md: outside the repository (a clone has only the repository's files)",
      "README.md:2: ../shared/STYLE.md#layout: outside the repository (a clone has only the repository's files)",
      "README.md:3: docs/no-such-page.md: no such file in the repository",
      "README.md:3: dist/src/main.js: no such file in the repository",
      "README.md:3: #no-such-heading: no heading #no-such-heading in README.md",
      "README.md:4: /etc/passwd: an absolute path (write it relative to README.md)",
    ]);
  });

  it("anchors are GitHub's: punctuation dropped, duplicates numbered, headings in code fences ignored", () => {
    const anchors = anchorsOf(["# Redis: single, Sentinel, Cluster", "## `npm test` (all of it)", "## Notes", "## Notes", "```sh", "# a shell comment", "```"].join("\n"));
    expect([...anchors]).toEqual(["redis-single-sentinel-cluster", "npm-test-all-of-it", "notes", "notes-1"]);
  });
});

/** The first ```graphql block of docs/contract.md: the binding schema. */
function contractSdl(): string {
  const text = readFromRoot("docs/contract.md");
  const block = /^```graphql\n([\s\S]*?)^```/m.exec(text);
  if (!block) throw new Error("docs/contract.md has no ```graphql block");
  return block[1]!;
}

/** `@auth(...)` usages as printed, arguments sorted, so that order does not matter. */
function authOf(directives: readonly ConstDirectiveNode[] | undefined): string[] {
  return (directives ?? [])
    .filter((d) => d.name.value === "auth")
    .map((d) => `@auth(${(d.arguments ?? []).map((a) => `${a.name.value}: ${print(a.value)}`).sort().join(", ")})`);
}

/** What `schema` lacks of the contract `sdl`: types, fields, arguments, enum values, their types and @auth rules. */
function missingFromSchema(sdl: string, schema: GraphQLSchema): string[] {
  const problems: string[] = [];
  for (const definition of parse(sdl).definitions as DefinitionNode[]) {
    if (!("name" in definition) || !definition.name) continue;
    const name = definition.name.value;
    const type = schema.getType(name);
    if (!type) {
      problems.push(`${name}: no such type`);
      continue;
    }
    switch (definition.kind) {
      case "ScalarTypeDefinition":
        if (!(type instanceof GraphQLScalarType)) problems.push(`${name}: not a scalar`);
        break;
      case "EnumTypeDefinition": {
        if (!(type instanceof GraphQLEnumType)) {
          problems.push(`${name}: not an enum`);
          break;
        }
        for (const value of definition.values ?? []) if (!type.getValue(value.name.value)) problems.push(`${name}.${value.name.value}: no such enum value`);
        break;
      }
      case "InputObjectTypeDefinition": {
        if (!(type instanceof GraphQLInputObjectType)) {
          problems.push(`${name}: not an input type`);
          break;
        }
        for (const field of definition.fields ?? []) {
          const actual = type.getFields()[field.name.value];
          if (!actual) problems.push(`${name}.${field.name.value}: no such field`);
          else if (String(actual.type) !== print(field.type)) problems.push(`${name}.${field.name.value}: ${String(actual.type)}, the contract says ${print(field.type)}`);
        }
        break;
      }
      case "ObjectTypeDefinition":
      case "InterfaceTypeDefinition": {
        if (!(type instanceof GraphQLObjectType || type instanceof GraphQLInterfaceType)) {
          problems.push(`${name}: not an object or interface type`);
          break;
        }
        const interfaces = type.getInterfaces().map((i) => i.name);
        for (const i of definition.interfaces ?? []) if (!interfaces.includes(i.name.value)) problems.push(`${name}: does not implement ${i.name.value}`);
        for (const field of definition.fields ?? []) {
          const path = `${name}.${field.name.value}`;
          const actual = type.getFields()[field.name.value];
          if (!actual) {
            problems.push(`${path}: no such field`);
            continue;
          }
          if (String(actual.type) !== print(field.type)) problems.push(`${path}: ${String(actual.type)}, the contract says ${print(field.type)}`);
          for (const arg of field.arguments ?? []) {
            const given = actual.args.find((a) => a.name === arg.name.value);
            if (!given) problems.push(`${path}(${arg.name.value}): no such argument`);
            else if (String(given.type) !== print(arg.type)) problems.push(`${path}(${arg.name.value}): ${String(given.type)}, the contract says ${print(arg.type)}`);
          }
          const [want, have] = [authOf(field.directives), authOf(actual.astNode?.directives)];
          if (want.join(" ") !== have.join(" ")) problems.push(`${path}: ${have.join(" ") || "no @auth"}, the contract says ${want.join(" ") || "no @auth"}`);
        }
        break;
      }
      default:
        problems.push(`${name}: a ${definition.kind} is not checked`);
    }
  }
  return problems;
}

describe("docs/contract.md's schema", () => {
  const served = () => buildSchema(readFromRoot("schema.graphql"));

  it("schema.graphql has every type, field, argument and enum value it names, with the same types and @auth rules", () => {
    const problems = missingFromSchema(contractSdl(), served());
    expect(problems, problems.join("\n")).toEqual([]);
  });

  it("the check notices a renamed field, a changed type, a dropped argument, a changed @auth rule and a missing enum value", () => {
    const sdl = `
      type Product implements Node { title: String! stock: Int costPrice: Money @auth(requires: ADMIN) }
      type Query { products(first: Int, page: Int): ProductConnection! cart: Cart! }
      enum OrderStatus { PLACED RETURNED }
      type Wishlist { id: ID! }`;
    expect(missingFromSchema(sdl, served())).toEqual([
      "Product.title: no such field",
      "Product.stock: Int!, the contract says Int",
      "Product.costPrice: @auth(requires: STAFF), the contract says @auth(requires: ADMIN)",
      "Query.products(page): no such argument",
      "Query.cart: @auth(), the contract says no @auth",
      "OrderStatus.RETURNED: no such enum value",
      "Wishlist: no such type",
    ]);
  });
});
