/** Product pages: the catalog's own data plus the current price from the pricing service. */

import { type PriceBody, type Quote, toQuote } from "./pricing";

export type FetchPrice = (sku: string) => Promise<PriceBody>;

export interface ProductPage {
  sku: string;
  name: string;
  price: Quote;
}

export class UnknownProduct extends Error {
  constructor(sku: string) {
    super(`no product ${sku}`);
    this.name = "UnknownProduct";
  }
}

export class Catalog {
  constructor(
    private readonly names: Map<string, string>,
    private readonly fetchPrice: FetchPrice,
  ) {}

  async productPage(sku: string): Promise<ProductPage> {
    const name = this.names.get(sku);
    if (name === undefined) {
      throw new UnknownProduct(sku);
    }
    return { sku, name, price: toQuote(sku, await this.fetchPrice(sku)) };
  }
}
