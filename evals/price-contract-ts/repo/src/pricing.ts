/** Prices from the pricing service (an upstream HTTP API), as the catalog shows them.
 *
 * `GET /prices/{sku}` answers `{"sku": "...", "price": 12.5, "currency": "EUR"}`: the price in
 * major units (euros, not cents), the currency defaulting to EUR when absent.
 */

export type PriceBody = Record<string, unknown>;

export interface Quote {
  sku: string;
  amountCents: number;
  currency: string;
  display: string;
}

/** The pricing service sent a body this client cannot read. */
export class UpstreamContractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UpstreamContractError";
  }
}

export const DEFAULT_CURRENCY = "EUR";

export function formatMoney(cents: number, currency: string): string {
  return `${(cents / 100).toFixed(2)} ${currency}`;
}

/** The quote for `sku` from the pricing service's answer. */
export function toQuote(sku: string, body: PriceBody): Quote {
  const price = body.price;
  if (typeof price !== "number" || !Number.isFinite(price)) {
    throw new UpstreamContractError(
      `pricing service sent price ${JSON.stringify(price)} for ${sku}, not a number`,
    );
  }
  const amountCents = Math.round(price * 100);
  const currency = typeof body.currency === "string" ? body.currency : DEFAULT_CURRENCY;
  return { sku, amountCents, currency, display: formatMoney(amountCents, currency) };
}
