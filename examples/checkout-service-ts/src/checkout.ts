/** Checkout: price a cart and record the order, on one pooled database connection. */

import { ConnectionPool } from "./db/connection";

export const PRICES: Record<string, number> = { coffee: 450, bread: 320, milk: 120 };

export interface Order {
  user: string;
  totalCents: number;
  status: "confirmed";
}

export class UnknownItem extends Error {
  constructor(item: string) {
    super(`unknown item: ${item}`);
    this.name = "UnknownItem";
  }
}

export function priceCart(cart: Record<string, number>): number {
  return Object.entries(cart).reduce((total, [item, qty]) => {
    const price = PRICES[item];
    if (price === undefined) {
      throw new UnknownItem(item);
    }
    return total + price * qty;
  }, 0);
}

export class CheckoutService {
  constructor(private readonly pool: ConnectionPool) {}

  async checkout(user: string, cart: Record<string, number>): Promise<Order> {
    const totalCents = priceCart(cart);
    const conn = await this.pool.acquire();
    try {
      await conn.query("INSERT INTO orders (user, total) VALUES (?, ?)", [user, totalCents]);
      return { user, totalCents, status: "confirmed" };
    } finally {
      this.pool.release(conn);
    }
  }
}
