import { badInput } from "../../graphql/errors.ts";
import { keyOf } from "../../lib/ids.ts";

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const CURRENCY = /^[A-Z]{3}$/;
export const MAX_CENTS = 100_000_000_00;

export function validSlug(slug: string): string {
  if (!SLUG.test(slug) || slug.length > 100) {
    throw badInput("slug must be lower-case letters, digits and single dashes, at most 100 characters", "slug");
  }
  return slug;
}

export function validText(value: string, argument: string, max: number, min = 1): string {
  const trimmed = value.trim();
  if (trimmed.length < min || trimmed.length > max) throw badInput(`${argument} must be ${min} to ${max} characters`, argument);
  return trimmed;
}

export function validCents(value: number, argument: string): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_CENTS) {
    throw badInput(`${argument} must be a whole number of minor units between 0 and ${MAX_CENTS}`, argument);
  }
  return value;
}

export function validCurrency(value: string): string {
  if (!CURRENCY.test(value)) throw badInput("currency must be an ISO-4217 code such as USD", "currency");
  return value;
}

/** Decodes a Category id argument; a malformed id or one of another type is BAD_USER_INPUT. */
export function categoryKey(id: string, argument = "categoryId"): string {
  const key = keyOf(id, "Category");
  if (!key) throw badInput(`${argument} is not a Category id`, argument);
  return key;
}

export function productKey(id: string, argument = "id"): string {
  const key = keyOf(id, "Product");
  if (!key) throw badInput(`${argument} is not a Product id`, argument);
  return key;
}
