import { describe, expect, it } from "vitest";

import { businessDay, LedgerNotFound, Ledgers, type Store } from "../src/ledger";

const newYork: Store = { id: "nyc", timeZone: "America/New_York" };
const berlin: Store = { id: "ber", timeZone: "Europe/Berlin" };
const tokyo: Store = { id: "tyo", timeZone: "Asia/Tokyo" };
const utc: Store = { id: "utc", timeZone: "UTC" };

describe("oracle: an order's business day is the store's local date", () => {
  it("New York in winter (UTC-5)", () => {
    expect(businessDay("2026-11-28T01:30:00Z", newYork)).toBe("2026-11-27");
    expect(businessDay("2026-11-28T05:00:00Z", newYork)).toBe("2026-11-28");
  });

  it("New York in summer (UTC-4, daylight saving)", () => {
    expect(businessDay("2026-07-03T04:30:00Z", newYork)).toBe("2026-07-03");
    expect(businessDay("2026-07-03T03:30:00Z", newYork)).toBe("2026-07-02");
  });

  it("Berlin in winter and summer", () => {
    expect(businessDay("2026-11-26T23:30:00Z", berlin)).toBe("2026-11-27");
    expect(businessDay("2026-07-02T22:30:00Z", berlin)).toBe("2026-07-03");
  });

  it("a zone the code never heard of (Tokyo, UTC+9)", () => {
    expect(businessDay("2026-11-27T16:00:00Z", tokyo)).toBe("2026-11-28");
  });

  it("UTC", () => {
    expect(businessDay("2026-11-27T23:59:00Z", utc)).toBe("2026-11-27");
  });

  it("orders land on the right ledger, and a closed day is still refused", () => {
    const ledgers = new Ledgers();
    ledgers.openDay(newYork, "2026-07-03");
    expect(ledgers.book(newYork, { id: "a", placedAt: "2026-07-03T04:30:00Z", totalCents: 700 })).toBe(
      "2026-07-03",
    );
    expect(ledgers.ledger(newYork, "2026-07-03")?.orders).toEqual(["a"]);
    expect(() =>
      ledgers.book(newYork, { id: "b", placedAt: "2026-07-03T03:30:00Z", totalCents: 700 }),
    ).toThrow(LedgerNotFound);
  });
});
