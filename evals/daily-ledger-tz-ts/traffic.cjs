// Production traffic for the ledger service, errors reported through @sentry/node.
//
//   SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 SERVICE_DIR=<the repository> \
//     NODE_PATH=<dir with @sentry/node, typescript, @types/node> node traffic.cjs [--min-errors 6]
//
// Compiles the service with tsc into a temporary directory, opens the ledgers of Friday
// 2026-11-27 for a New York and a Berlin store, and books that day's orders as the order API
// sends them (UTC instants). Each failed booking is reported with @sentry/node at its default
// settings (the errors differ by order, so Dedupe sends each one). Exit 0 once at least
// --min-errors bookings failed.
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
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "ledger-build-"));
  const tsc = require.resolve("typescript/bin/tsc");
  const types = path.dirname(path.dirname(require.resolve("@types/node/package.json")));
  const args = [tsc, "-p", path.join(repo, "tsconfig.json"), "--outDir", out, "--typeRoots", types];
  execFileSync(process.execPath, args, { stdio: "inherit" });
  return out;
}

// Local opening hours of Friday 2026-11-27 (New York UTC-5, Berlin UTC+1 in November).
const STORES = [
  { store: { id: "nyc-5th-ave", timeZone: "America/New_York" }, offsetHours: -5 },
  { store: { id: "ber-mitte", timeZone: "Europe/Berlin" }, offsetHours: 1 },
];
const LOCAL_HOURS = [0.5, 8, 10.25, 12.5, 15, 18.75, 19.5, 20.75, 22, 23.5];

function instant(localHour, offsetHours) {
  const ms = Date.UTC(2026, 10, 27) + (localHour - offsetHours) * 3600 * 1000;
  return new Date(ms).toISOString();
}

async function main() {
  const minErrors = option("min-errors", 6);
  const dist = build(process.env.SERVICE_DIR || path.join(__dirname, "repo"));
  const Sentry = require("@sentry/node");
  Sentry.init({
    dsn: process.env.SENTRY_DSN,
    environment: process.env.SENTRY_ENVIRONMENT || "production",
    release: "ledger-service@4.1.3",
  });
  const { Ledgers } = require(path.join(dist, "ledger.js"));
  const ledgers = new Ledgers();
  for (const { store } of STORES) ledgers.openDay(store, "2026-11-27");
  let errors = 0;
  let n = 0;
  for (const { store, offsetHours } of STORES) {
    for (const till of [1, 2]) {
      for (const hour of LOCAL_HOURS) {
        n += 1;
        const order = { id: `${store.id}-t${till}-${n}`, placedAt: instant(hour, offsetHours), totalCents: 500 + n * 37 };
        Sentry.withScope((scope) => {
          scope.setTransactionName("POST /stores/:id/orders");
          scope.setTag("store", store.id);
          try {
            ledgers.book(store, order);
          } catch (error) {
            Sentry.captureException(error);
            errors += 1;
          }
        });
      }
    }
  }
  await Sentry.close(10000);
  fs.rmSync(dist, { recursive: true, force: true });
  console.log(`${errors} failed bookings reported`);
  process.exit(errors >= minErrors ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
