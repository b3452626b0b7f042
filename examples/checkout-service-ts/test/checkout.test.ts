import { describe, expect, it } from "vitest";

import { CheckoutService, priceCart, UnknownItem } from "../src/checkout";
import { ConnectionPool } from "../src/db/connection";

describe("priceCart", () => {
  it("adds up the items", () => {
    expect(priceCart({ coffee: 1, bread: 2 })).toBe(1090);
  });

  it("refuses an unknown item", () => {
    expect(() => priceCart({ caviar: 1 })).toThrow(UnknownItem);
  });
});

describe("CheckoutService", () => {
  it("confirms an order and gives the connection back", async () => {
    const pool = new ConnectionPool(0);
    const order = await new CheckoutService(pool).checkout("u1", { milk: 3 });
    expect(order).toEqual({ user: "u1", totalCents: 360, status: "confirmed" });
    expect(pool.available).toBe(pool.size);
  });

  it("serves as many concurrent checkouts as the pool holds", async () => {
    const pool = new ConnectionPool(5);
    const service = new CheckoutService(pool);
    const orders = await Promise.all(
      Array.from({ length: pool.size }, (_, n) => service.checkout(`u${n}`, { coffee: 1 })),
    );
    expect(orders.every((o) => o.status === "confirmed")).toBe(true);
  });
});
