// Requests as a client sends them: `request()` takes a typed document generated from
// test/operations/*.graphql (npm run codegen), `gql()` takes text for the tests that must send
// something codegen would refuse (invalid documents, limits, abuse).
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print, type DocumentNode } from "graphql";
import { expect } from "vitest";

export interface GqlError {
  message: string;
  path?: (string | number)[];
  extensions: { code: string; [k: string]: unknown };
}

export interface GqlResponse<T = unknown> {
  status: number;
  data?: T;
  errors?: GqlError[];
}

export async function gql<T = unknown>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
): Promise<GqlResponse<T>> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, ...(await response.json()) };
}

const texts = new WeakMap<DocumentNode, string>();

/** The text a document is sent as (printed once per document). */
export function textOf(document: DocumentNode): string {
  let text = texts.get(document);
  if (text === undefined) texts.set(document, (text = print(document)));
  return text;
}

/** Variables may be left out when the operation has none that are required. */
export type VariablesArg<V> = Record<string, never> extends V ? [variables?: V, token?: string] : [variables: V, token?: string];

/** POSTs a generated document (printed) with its typed variables; the result is typed by the document. */
export function request<R, V>(url: string, document: TypedDocumentNode<R, V>, ...[variables, token]: VariablesArg<V>): Promise<GqlResponse<R>> {
  return gql<R>(url, textOf(document), (variables ?? {}) as Record<string, unknown>, token);
}

/** The data of a response that must have succeeded (the errors are the assertion's message). */
export function ok<T>(res: GqlResponse<T>): T {
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!;
}

/** The contract code of the first error, if any. */
export function codeOf(res: { errors?: readonly { extensions?: { code?: unknown } }[] | undefined }): string | undefined {
  return res.errors?.[0]?.extensions?.code as string | undefined;
}
