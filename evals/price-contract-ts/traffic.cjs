// Production traffic for the catalog's product pages, errors reported through @sentry/node.
//
//   SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 SERVICE_DIR=<the repository> \
//     NODE_PATH=<dir with @sentry/node, typescript, @types/node> node traffic.cjs [--min-errors 6]
//
// Compiles the service with tsc into a temporary directory, then shoppers open product
// pages; the pricing service already answers its v2 body for the SKUs migrated to it. Each
// failed page is reported with @sentry/node at its default settings (Dedupe on: the errors
// differ by SKU, so each one is sent). Exit 0 once at least --min-errors pages failed.
"use strict";

const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

function build(repo) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "catalog-build-"));
  const tsc = require.resolve("typescript/bin/tsc");
  const types = path.dirname(path.dirname(require.resolve("@types/node/package.json")));
  const args = [tsc, "-p", path.join(repo, "tsconfig.json"), "--outDir", out, "--typeRoots", types];
  execFileSync(process.execPath, args, { stdio: "inherit" });
  return out;
}

// The pricing service: v1 answers a number in major units; migrated SKUs get the v2 body.
function pricingService(sku, n) {
  const cents = 199 + ((n * 137) % 4000);
  if (n % 3 === 0) {
    return { sku, price: { amount_minor: cents, currency: n % 2 ? "USD" : "EUR" }, api_version: 2 };
  }
  return { sku, price: cents / 100, currency: "EUR" };
}

async function main() {
  const minErrors = option("min-errors", 6);
  const dist = build(process.env.SERVICE_DIR || path.join(__dirname, "repo"));
  const Sentry = require("@sentry/node");
  Sentry.init({
    dsn: process.env.SENTRY_DSN,
    environment: process.env.SENTRY_ENVIRONMENT || "production",
    release: "catalog-service@2.7.0",
  });
  const { Catalog } = require(path.join(dist, "catalog.js"));
  const skus = Array.from({ length: 30 }, (_, n) => `sku-${100 + n}`);
  const names = new Map(skus.map((sku) => [sku, `Product ${sku}`]));
  const catalog = new Catalog(names, async (sku) => pricingService(sku, skus.indexOf(sku)));
  let errors = 0;
  for (const [n, sku] of skus.entries()) {
    await Sentry.withScope(async (scope) => {
      scope.setTransactionName("GET /products/:sku");
      scope.setUser({ id: `shopper-${n % 11}` });
      try {
        await catalog.productPage(sku);
      } catch (error) {
        Sentry.captureException(error);
        errors += 1;
      }
    });
  }
  await Sentry.close(10000);
  fs.rmSync(dist, { recursive: true, force: true });
  console.log(`${errors} failed product pages reported`);
  process.exit(errors >= minErrors ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
