// Production traffic for the reports service, errors reported through @sentry/node.
//
//   SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 SERVICE_DIR=<the repository> \
//     NODE_PATH=<dir with @sentry/node> node traffic.js [--min-errors 6]
//
// One export worker (one FileTable for its life) serves the accountants' export requests;
// some customer lists hold a row with a missing email, which the worker answers with 422
// (not reported: the data needs fixing). Server errors (500) are reported with @sentry/node
// at its default settings (each names its own file, so Dedupe sends each one). Exit 0 once at
// least --min-errors exports failed with a server error.
"use strict";

const path = require("node:path");

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

function customers(n) {
  return Array.from({ length: 20 }, (_, i) => ({
    id: n * 100 + i,
    email: n % 4 === 1 && i === 13 ? null : `customer${n}-${i}@example.com`,
    balanceCents: ((n + 1) * (i + 7) * 131) % 90000,
  }));
}

async function main() {
  const minErrors = option("min-errors", 6);
  const repo = process.env.SERVICE_DIR || path.join(__dirname, "repo");
  const Sentry = require("@sentry/node");
  Sentry.init({
    dsn: process.env.SENTRY_DSN,
    environment: process.env.SENTRY_ENVIRONMENT || "production",
    release: "reports-service@3.0.8",
  });
  const { exportBalances, InvalidRow } = require(path.join(repo, "src", "exporter.js"));
  const { FileTable } = require(path.join(repo, "src", "files.js"));
  const files = new FileTable();
  const codes = { 200: 0, 422: 0, 500: 0 };
  for (let n = 0; n < 60; n++) {
    Sentry.withScope((scope) => {
      scope.setTransactionName("POST /exports/balances");
      scope.setUser({ id: `accountant-${n % 5}` });
      try {
        exportBalances(files, `balances-${n}.csv`, customers(n));
        codes[200] += 1;
      } catch (error) {
        if (error instanceof InvalidRow) {
          codes[422] += 1;
          return;
        }
        Sentry.captureException(error);
        codes[500] += 1;
      }
    });
  }
  await Sentry.close(10000);
  console.log(`exports: ${codes[200]} written, ${codes[422]} refused (422), ${codes[500]} failed (500)`);
  process.exit(codes[500] >= minErrors ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
