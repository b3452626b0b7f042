import { describe, expect, it } from "vitest";

import { Catalog } from "../src/catalog";
import { toQuote, UpstreamContractError } from "../src/pricing";

describe("oracle: v1 and v2 prices", () => {
  it("a v2 price is in minor units", () => {
    expect(toQuote("a", { price: { amount_minor: 1250, currency: "EUR" } }).amountCents).toBe(1250);
    expect(toQuote("b", { price: { amount_minor: 199, currency: "EUR" } }).display).toBe("1.99 EUR");
  });

  it("a v2 price carries its own currency", () => {
    const quote = toQuote("c", { price: { amount_minor: 4000, currency: "USD" }, currency: "EUR" });
    expect([quote.amountCents, quote.currency, quote.display]).toEqual([4000, "USD", "40.00 USD"]);
  });

  it("a v1 price still reads as before", () => {
    expect(toQuote("d", { price: 12.5, currency: "GBP" })).toEqual({
      sku: "d",
      amountCents: 1250,
      currency: "GBP",
      display: "12.50 GBP",
    });
    expect(toQuote("e", { price: 3 }).display).toBe("3.00 EUR");
  });

  it("a body with no usable price is still refused", () => {
    expect(() => toQuote("f", { sku: "f" })).toThrow(UpstreamContractError);
    expect(() => toQuote("g", { price: null })).toThrow(UpstreamContractError);
  });

  it("a migrated product page shows its v2 price", async () => {
    const catalog = new Catalog(new Map([["mug", "Enamel mug"]]), async () => ({
      sku: "mug",
      price: { amount_minor: 990, currency: "EUR" },
      api_version: 2,
    }));
    expect((await catalog.productPage("mug")).price.display).toBe("9.90 EUR");
  });
});
