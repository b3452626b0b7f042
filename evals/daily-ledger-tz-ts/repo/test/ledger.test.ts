import { describe, expect, it } from "vitest";

import { businessDay, LedgerNotFound, Ledgers, type Store } from "../src/ledger";

const london: Store = { id: "ldn-1", timeZone: "Europe/London" };

describe("Ledgers", () => {
  it("books an order on its day's ledger", () => {
    const ledgers = new Ledgers();
    ledgers.openDay(london, "2026-11-27");
    const day = ledgers.book(london, { id: "o1", placedAt: "2026-11-27T12:30:00Z", totalCents: 1999 });
    expect(day).toBe("2026-11-27");
    expect(ledgers.ledger(london, day)).toEqual({
      store: "ldn-1",
      day: "2026-11-27",
      totalCents: 1999,
      orders: ["o1"],
    });
  });

  it("refuses an order for a day whose ledger is not open", () => {
    const ledgers = new Ledgers();
    ledgers.openDay(london, "2026-11-27");
    expect(() =>
      ledgers.book(london, { id: "o2", placedAt: "2026-11-28T09:00:00Z", totalCents: 100 }),
    ).toThrow(LedgerNotFound);
  });
});

describe("businessDay", () => {
  it("is the calendar day of the order", () => {
    expect(businessDay("2026-11-27T23:59:59Z", london)).toBe("2026-11-27");
  });
});
