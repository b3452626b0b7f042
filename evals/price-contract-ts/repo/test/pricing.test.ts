import { describe, expect, it } from "vitest";

import { Catalog, UnknownProduct } from "../src/catalog";
import { formatMoney, toQuote, UpstreamContractError } from "../src/pricing";

describe("toQuote", () => {
  it("reads the price in major units", () => {
    expect(toQuote("mug", { sku: "mug", price: 12.5, currency: "GBP" })).toEqual({
      sku: "mug",
      amountCents: 1250,
      currency: "GBP",
      display: "12.50 GBP",
    });
  });

  it("defaults the currency to EUR", () => {
    expect(toQuote("mug", { price: 3 }).display).toBe("3.00 EUR");
  });

  it("refuses a body without a price", () => {
    expect(() => toQuote("mug", { sku: "mug" })).toThrow(UpstreamContractError);
  });
});

describe("Catalog", () => {
  it("builds a product page", async () => {
    const catalog = new Catalog(new Map([["mug", "Enamel mug"]]), async () => ({ price: 9.9 }));
    const page = await catalog.productPage("mug");
    expect(page.name).toBe("Enamel mug");
    expect(page.price.amountCents).toBe(990);
  });

  it("refuses an unknown product", async () => {
    const catalog = new Catalog(new Map(), async () => ({ price: 1 }));
    await expect(catalog.productPage("nope")).rejects.toThrow(UnknownProduct);
  });

  it("formats cents", () => {
    expect(formatMoney(5, "EUR")).toBe("0.05 EUR");
  });
});
