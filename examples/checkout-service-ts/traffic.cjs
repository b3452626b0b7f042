// Drive concurrent checkouts at the service until errors are reported through @sentry/node.
//
//   SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 NODE_PATH=<dir with @sentry/node, typescript> \
//     node --enable-source-maps traffic.cjs [--min-errors 5] [--concurrency 15] [--max-rounds 10]
//
// Run from the service's repository (cwd). Builds it with `tsc` when `dist/` is missing, starts
// it in-process on a free port with @sentry/node at its DEFAULT settings (so its Dedupe
// integration is on), fires rounds of concurrent `POST /checkout`, and stops once --min-errors
// requests failed with a server error. Exit 0 when the errors were seen. Not part of the
// service's repository (demo_env.NOT_IN_REPO): it stands for production traffic.
"use strict";

const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

function build(repo) {
  if (fs.existsSync(path.join(repo, "dist", "server.js"))) return;
  // typescript and @types/node come from NODE_PATH (the repository's own node_modules may be absent)
  const tsc = require.resolve("typescript/bin/tsc");
  const types = path.dirname(path.dirname(require.resolve("@types/node/package.json")));
  const args = [tsc, "-p", path.join(repo, "tsconfig.json"), "--typeRoots", types];
  execFileSync(process.execPath, args, { stdio: "inherit" });
}

function checkout(port, n) {
  const body = JSON.stringify({ user: `user-${n % 17}`, cart: { coffee: 1, bread: 2 } });
  return new Promise((resolve) => {
    const req = http.request(
      { host: "127.0.0.1", port, path: "/checkout", method: "POST", headers: { "content-type": "application/json" } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      },
    );
    req.on("error", () => resolve(599));
    req.end(body);
  });
}

async function main() {
  const minErrors = option("min-errors", 5);
  const concurrency = option("concurrency", 15);
  const maxRounds = option("max-rounds", 10);
  const repo = process.cwd();
  build(repo);

  const Sentry = require("@sentry/node");
  const reporting = Boolean(process.env.SENTRY_DSN);
  if (reporting) {
    // Default settings, as a team would write it: Dedupe and the other default integrations on.
    Sentry.init({ dsn: process.env.SENTRY_DSN, environment: process.env.SENTRY_ENVIRONMENT || "production", release: "checkout-service@1.4.2" });
  }
  const { makeServer } = require(path.join(repo, "dist", "server.js"));
  const server = makeServer(undefined, (error) => (reporting ? Sentry.captureException(error) : console.error(error)));
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();

  let errors = 0;
  for (let round = 1; round <= maxRounds && errors < minErrors; round++) {
    const codes = await Promise.all(Array.from({ length: concurrency }, (_, n) => checkout(port, n)));
    const failed = codes.filter((c) => c >= 500).length;
    errors += failed;
    console.log(`round ${round}: ${concurrency} concurrent checkouts, ${failed} failed (total errors ${errors})`);
  }
  server.close();
  if (reporting) await Sentry.close(10000);
  if (errors < minErrors) {
    console.error(`only ${errors} errors after ${maxRounds} rounds`);
    process.exit(1);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
