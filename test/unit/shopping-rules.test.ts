import { describe, expect, it } from "vitest";
import { cartHash } from "../../src/modules/cart/index.ts";
import { canTransition, TRANSITIONS } from "../../src/modules/orders/order-status.ts";
import { orderNumber } from "../../src/modules/orders/orders.service.ts";

const STATUSES = ["PLACED", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"] as const;

describe("order status transitions", () => {
  it("allow exactly PLACED->PAID->SHIPPED->DELIVERED and PLACED|PAID->CANCELLED", () => {
    const allowed = STATUSES.flatMap((from) => STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}->${to}`));
    expect(allowed.sort()).toEqual(
      ["PLACED->PAID", "PAID->SHIPPED", "SHIPPED->DELIVERED", "PLACED->CANCELLED", "PAID->CANCELLED"].sort(),
    );
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...STATUSES].sort());
  });
});

describe("cart hash", () => {
  it("ignores line order and tells different quantities or products apart", () => {
    const a = { productId: "00000000-0000-0000-0000-00000000000a", quantity: 1 };
    const b = { productId: "00000000-0000-0000-0000-00000000000b", quantity: 2 };
    expect(cartHash([a, b])).toBe(cartHash([b, a]));
    expect(cartHash([a, b])).not.toBe(cartHash([a, { ...b, quantity: 3 }]));
    expect(cartHash([a])).not.toBe(cartHash([a, b]));
    expect(cartHash([])).not.toBe(cartHash([a]));
  });
});

describe("order numbers", () => {
  it("are CW- and the sequence number padded to six digits", () => {
    expect(orderNumber(42)).toBe("CW-000042");
    expect(orderNumber(1_234_567)).toBe("CW-1234567");
  });
});
