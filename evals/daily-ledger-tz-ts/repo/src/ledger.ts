/** Day ledgers: every order is booked on its store's ledger for the day it was placed.
 *
 * A store opens the ledger of each business day (a calendar day where the store is, in its
 * IANA time zone) before it takes orders; the end-of-day report closes it. Order times come
 * from the order API as ISO 8601 instants (`2026-11-27T21:05:00Z`).
 */

export interface Store {
  id: string;
  /** IANA time zone of the store, e.g. `America/New_York`. */
  timeZone: string;
}

export interface Order {
  id: string;
  placedAt: string;
  totalCents: number;
}

export interface DayLedger {
  store: string;
  day: string;
  totalCents: number;
  orders: string[];
}

/** No ledger is open for the store and day an order belongs to. */
export class LedgerNotFound extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LedgerNotFound";
  }
}

/** The calendar day (`YYYY-MM-DD`) of the store an order placed at `placedAt` belongs to. */
export function businessDay(placedAt: string, store: Store): string {
  return new Date(placedAt).toISOString().slice(0, 10);
}

export class Ledgers {
  private readonly open = new Map<string, DayLedger>();

  openDay(store: Store, day: string): DayLedger {
    const ledger = { store: store.id, day, totalCents: 0, orders: [] };
    this.open.set(`${store.id}/${day}`, ledger);
    return ledger;
  }

  ledger(store: Store, day: string): DayLedger | undefined {
    return this.open.get(`${store.id}/${day}`);
  }

  /** Book `order` on its business day's ledger; returns that day. */
  book(store: Store, order: Order): string {
    const day = businessDay(order.placedAt, store);
    const ledger = this.ledger(store, day);
    if (ledger === undefined) {
      throw new LedgerNotFound(`no open ledger for store ${store.id} on ${day} (order ${order.id})`);
    }
    ledger.totalCents += order.totalCents;
    ledger.orders.push(order.id);
    return day;
  }
}
