/**
 * npm run schema:check — is `schema.graphql` still compatible with the last released contract?
 *
 * Compares the current emitted schema (`schema.graphql`, written by `npm run schema:emit`) with the
 * committed copy of the last release (`schema/released.graphql`) using @graphql-inspector/core.
 * Every change is printed, grouped as BREAKING / DANGEROUS / SAFE (NON_BREAKING), with its path,
 * type and message, then a one-line summary.
 *
 * Exit codes:
 *   0  no breaking changes, or every breaking change is acknowledged
 *   1  at least one breaking change that is not acknowledged
 *   2  usage or input error (unknown option, unreadable file, invalid SDL, malformed acknowledgements)
 *
 * Acknowledging a deliberate breaking change: add an entry to `schema/acknowledged-breaking.json`,
 * a JSON array of
 *   { "path": "Query.products", "type": "FIELD_REMOVED", "reason": "why clients are not hurt" }
 * `path` and `type` are exactly as printed by this check; `reason` is required and must not be empty.
 * An entry acknowledges every breaking change with that path and type.
 *
 * Authorization is part of the contract: any change of an `@auth` usage (added, removed, its role
 * changed) counts as breaking here, although graphql-inspector rates it dangerous, so loosening or
 * tightening who may read a field is always a reviewed, acknowledged decision.
 *
 * Cutting a release (e.g. v2):
 *   1. npm run schema:emit && npm run schema:check   (review what changed since the last release)
 *   2. cp schema.graphql schema/released.graphql     (the new release is now the baseline)
 *   3. echo '[]' > schema/acknowledged-breaking.json  (acknowledgements were about the old baseline)
 *   4. commit both files together with the release.
 *
 * Options (paths relative to the working directory):
 *   --old <file>           baseline schema       (default: schema/released.graphql)
 *   --new <file>           candidate schema      (default: schema.graphql)
 *   --acknowledged <file>  acknowledgements file (default: schema/acknowledged-breaking.json)
 *
 * The logic is `checkSchema()`; the CLI below runs only when this file is executed directly.
 */
import { readFileSync, realpathSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { ChangeType, CriticalityLevel, diff, type Change } from "@graphql-inspector/core";
import { buildSchema, isInterfaceType, isObjectType, type GraphQLSchema } from "graphql";

export interface Ack {
  /** Change path as reported by graphql-inspector, e.g. `Query.products` or `Query.products.first`. */
  path: string;
  /** Change type, e.g. `FIELD_REMOVED` (one of graphql-inspector's `ChangeType` values). */
  type: string;
  /** Why this breaking change is acceptable. Required, non-empty. */
  reason: string;
}

export interface AcknowledgedChange {
  change: Change;
  ack: Ack;
}

export interface SchemaCheckResult {
  /** Every BREAKING change, acknowledged or not. */
  breaking: Change[];
  dangerous: Change[];
  /** NON_BREAKING changes. */
  safe: Change[];
  /** BREAKING changes without a matching acknowledgement: the check fails when this is non-empty. */
  unacknowledged: Change[];
  acknowledged: AcknowledgedChange[];
  /** Acknowledgements that match no breaking change (stale; worth removing). */
  unusedAcknowledgements: Ack[];
}

/** Bad input: unreadable or invalid schema, malformed acknowledgements, bad options. The CLI exits 2. */
export class SchemaCheckInputError extends Error {
  override name = "SchemaCheckInputError";
}

const knownChangeTypes = new Set<string>(Object.values(ChangeType));

/** Checks an already-parsed acknowledgements value; throws SchemaCheckInputError naming every problem. */
export function validateAcknowledged(value: unknown, source = "acknowledgements"): Ack[] {
  if (!Array.isArray(value)) {
    throw new SchemaCheckInputError(`${source}: expected a JSON array of { "path", "type", "reason" } objects, got ${value === null ? "null" : typeof value}`);
  }
  const problems: string[] = [];
  const acks: Ack[] = [];
  value.forEach((entry: unknown, index) => {
    const where = `${source}[${index}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      problems.push(`${where}: expected an object with "path", "type" and "reason"`);
      return;
    }
    const { path, type, reason } = entry as Record<string, unknown>;
    const before = problems.length;
    if (typeof path !== "string" || path.trim() === "") problems.push(`${where}: "path" must be a non-empty string (e.g. "Query.products")`);
    if (typeof type !== "string" || type.trim() === "") problems.push(`${where}: "type" must be a non-empty string (e.g. "FIELD_REMOVED")`);
    else if (!knownChangeTypes.has(type)) problems.push(`${where}: "type" ${JSON.stringify(type)} is not a graphql-inspector change type`);
    if (typeof reason !== "string" || reason.trim() === "") problems.push(`${where}: "reason" is required and must be a non-empty string`);
    if (problems.length === before) acks.push({ path: path as string, type: type as string, reason: reason as string });
  });
  if (problems.length > 0) throw new SchemaCheckInputError(problems.join("\n"));
  return acks;
}

/** Parses the text of an acknowledgements file; throws SchemaCheckInputError when it is malformed. */
export function parseAcknowledged(json: string, source = "acknowledgements"): Ack[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new SchemaCheckInputError(`${source}: not valid JSON (${(error as Error).message})`);
  }
  return validateAcknowledged(value, source);
}

function build(sdl: string, label: string) {
  try {
    return buildSchema(sdl);
  } catch (error) {
    throw new SchemaCheckInputError(`${label}: invalid GraphQL SDL: ${(error as Error).message}`);
  }
}

/** Diffs two SDL texts and sorts the changes by criticality, applying the acknowledgements to breaking ones. */
export async function checkSchema(oldSdl: string, newSdl: string, acknowledged: Ack[], labels = { old: "old schema", new: "new schema" }): Promise<SchemaCheckResult> {
  const acks = validateAcknowledged(acknowledged);
  const oldSchema = build(oldSdl, labels.old);
  const changes = await diff(oldSchema, build(newSdl, labels.new));
  const result: SchemaCheckResult = { breaking: [], dangerous: [], safe: [], unacknowledged: [], acknowledged: [], unusedAcknowledgements: [] };
  const used = new Set<Ack>();
  for (const change of changes) {
    switch (criticalityOf(change, oldSchema)) {
      case CriticalityLevel.Breaking: {
        result.breaking.push(change);
        const ack = acks.find((a) => a.path === change.path && a.type === change.type);
        if (ack) {
          used.add(ack);
          result.acknowledged.push({ change, ack });
        } else {
          result.unacknowledged.push(change);
        }
        break;
      }
      case CriticalityLevel.Dangerous:
        result.dangerous.push(change);
        break;
      default:
        result.safe.push(change);
    }
  }
  result.unusedAcknowledgements = acks.filter((a) => !used.has(a));
  return result;
}

/**
 * graphql-inspector's rating, except for `@auth` usages (their path runs through `.@auth`:
 * `Query.users.@auth.requires`): breaking on a type or field the old schema has, since they change
 * who may use it. On a type or field that is itself new they only describe it (nobody's access
 * changes): safe, like the new field.
 */
function criticalityOf(change: Change, oldSchema: GraphQLSchema): CriticalityLevel {
  const owner = /^(.*?)\.?@auth(\.|$)/.exec(change.path ?? "")?.[1];
  if (owner === undefined) return change.criticality.level;
  const [typeName, fieldName] = owner.split(".");
  const type = typeName ? oldSchema.getType(typeName) : undefined;
  const existed = type !== undefined && (fieldName === undefined || (isObjectType(type) || isInterfaceType(type) ? fieldName in type.getFields() : false));
  return existed ? CriticalityLevel.Breaking : CriticalityLevel.NonBreaking;
}

function formatChange(change: Change): string {
  return `  - ${change.path ?? "(schema)"} [${change.type}]: ${change.message}`;
}

/** The human-readable report (every change grouped by level, then a one-line summary). */
export function formatReport(result: SchemaCheckResult, oldLabel: string): string {
  const lines: string[] = [];
  const ackFor = new Map(result.acknowledged.map((a) => [a.change, a.ack]));
  const section = (title: string, changes: Change[], note?: (c: Change) => string | undefined) => {
    if (changes.length === 0) return;
    lines.push(`${title} (${changes.length}):`);
    for (const change of changes) {
      lines.push(formatChange(change));
      const extra = note?.(change);
      if (extra) lines.push(`      ${extra}`);
    }
    lines.push("");
  };
  section("BREAKING", result.breaking, (c) => {
    const ack = ackFor.get(c);
    return ack ? `acknowledged: ${ack.reason}` : "NOT ACKNOWLEDGED";
  });
  section("DANGEROUS", result.dangerous, (c) => c.criticality.reason);
  section("SAFE", result.safe);
  for (const ack of result.unusedAcknowledgements) {
    lines.push(`warning: acknowledgement ${ack.path} [${ack.type}] matches no breaking change; remove it`);
  }
  if (result.unusedAcknowledgements.length > 0) lines.push("");
  const acknowledgedNote = result.acknowledged.length > 0 ? ` (${result.acknowledged.length} acknowledged)` : "";
  lines.push(
    `schema:check: ${result.breaking.length} breaking${acknowledgedNote}, ${result.dangerous.length} dangerous, ${result.safe.length} safe changes against ${oldLabel}` +
      (result.unacknowledged.length > 0 ? ` -- FAILED: ${result.unacknowledged.length} unacknowledged breaking` : ""),
  );
  return lines.join("\n");
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(resolve(file), "utf8");
  } catch (error) {
    throw new SchemaCheckInputError(`cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** Runs the CLI with the given arguments; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    let values: { old?: string; new?: string; acknowledged?: string; help?: boolean };
    try {
      ({ values } = parseArgs({
        args: argv,
        options: { old: { type: "string" }, new: { type: "string" }, acknowledged: { type: "string" }, help: { type: "boolean", short: "h" } },
        strict: true,
        allowPositionals: false,
      }));
    } catch (error) {
      throw new SchemaCheckInputError(`${(error as Error).message}\nusage: schema-check [--old <file>] [--new <file>] [--acknowledged <file>]`);
    }
    if (values.help) {
      console.log("usage: schema-check [--old schema/released.graphql] [--new schema.graphql] [--acknowledged schema/acknowledged-breaking.json]");
      return 0;
    }
    const oldFile = values.old ?? "schema/released.graphql";
    const newFile = values.new ?? "schema.graphql";
    const ackFile = values.acknowledged ?? "schema/acknowledged-breaking.json";
    const acks = parseAcknowledged(readText(ackFile, "acknowledgements file"), ackFile);
    const result = await checkSchema(readText(oldFile, "old schema"), readText(newFile, "new schema"), acks, { old: oldFile, new: newFile });
    console.log(formatReport(result, oldFile));
    return result.unacknowledged.length > 0 ? 1 : 0;
  } catch (error) {
    if (error instanceof SchemaCheckInputError) {
      console.error(`schema:check: error: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return pathToFileURL(realpathSync(entry)).href === pathToFileURL(realpathSync(fileURLToPath(import.meta.url))).href;
  } catch {
    return import.meta.url === pathToFileURL(entry).href;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 2;
    },
  );
}
