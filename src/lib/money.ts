/** "$12.50" for (1250, "USD"): for notification texts, never for arithmetic. */
export function formatMoney(amountCents: number, currency: string): string {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: currency.trim() }).format(amountCents / 100);
  } catch {
    return `${(amountCents / 100).toFixed(2)} ${currency.trim()}`;
  }
}

/** The largest amount a money column (PostgreSQL integer) holds. */
export const MAX_AMOUNT_CENTS = 2_147_483_647;
