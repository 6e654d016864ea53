import { Kind, getOperationAST, type ExecutionArgs } from "graphql";
import type { Context } from "../graphql/context.ts";

// What the fan-out (server/fanout.ts) keys its groups and held-back events by.

/**
 * How a subscription resumes after a cursor: through a variable given to its root field's `after`
 * (`variable` names it), through the transport's cursor on its context (Context.resumeAfter, SSE
 * Last-Event-ID; `variable` also set when an `after` variable is given too), or through a cursor
 * written into the document (`inline`, whatever else is given). Undefined: it does not resume.
 */
export type Resume = { kind: "variable" | "transport"; variable: string | undefined; cursor: string } | { kind: "inline" };

export function resumeOf(args: ExecutionArgs): Resume | undefined {
  const root = getOperationAST(args.document, args.operationName)?.selectionSet.selections[0];
  const after = root?.kind === Kind.FIELD ? root.arguments?.find((a) => a.name.value === "after")?.value : undefined;
  const variable = after?.kind === Kind.VARIABLE && typeof args.variableValues?.[after.name.value] === "string" ? after.name.value : undefined;
  // Even with a transport cursor: a group of the same document would replay from the inline one.
  if (after && after.kind !== Kind.VARIABLE && after.kind !== Kind.NULL) return { kind: "inline" };
  // The cursor the resolver resumes after (graphql/resume.ts): the transport's wins.
  const transport = (args.contextValue as Partial<Context> | undefined)?.resumeAfter;
  if (transport) return { kind: "transport", variable, cursor: transport };
  if (variable !== undefined) return { kind: "variable", variable, cursor: args.variableValues![variable] as string };
  return undefined;
}

/** Identical subscriptions: the same document object (server/operations.ts caches them by text, for both transports), operation and variables. */
const documentIds = new WeakMap<object, number>();
let nextDocumentId = 0;
export function groupKey(args: ExecutionArgs): string {
  let id = documentIds.get(args.document);
  if (id === undefined) documentIds.set(args.document, (id = (nextDocumentId += 1)));
  return `${id}\u0000${args.operationName ?? ""}\u0000${stableJson(args.variableValues ?? {})}`;
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * Events that carry a latest value (a product's stock or fields, a cart snapshot): a newer one
 * makes an older one that is still held back worthless. Others (orders, notifications) are never coalesced.
 */
export function coalescingKey(event: unknown): string | undefined {
  if (!event || typeof event !== "object") return undefined;
  const e = event as { productId?: unknown; version?: unknown; items?: unknown };
  if (typeof e.productId === "string") return `product:${e.productId}`;
  if (typeof e.version === "number" && Array.isArray(e.items)) return "cart";
  return undefined;
}
