/** The HTTP face of the service: `POST /checkout` with `{"user": ..., "cart": {...}}`. */

import http from "node:http";

import { CheckoutService, UnknownItem } from "./checkout";
import { ConnectionPool } from "./db/connection";

export type ErrorReporter = (error: unknown) => void;

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}"));
      } catch (error) {
        reject(error);
      }
    });
    req.on("error", reject);
  });
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

export function makeServer(
  service = new CheckoutService(new ConnectionPool()),
  report: ErrorReporter = (error) => console.error(error),
): http.Server {
  return http.createServer(async (req, res) => {
    if (req.method !== "POST" || req.url !== "/checkout") {
      reply(res, 404, { error: "POST /checkout" });
      return;
    }
    try {
      const { user, cart } = (await readJson(req)) as { user: string; cart: Record<string, number> };
      reply(res, 200, await service.checkout(user, cart));
    } catch (error) {
      if (error instanceof UnknownItem) {
        reply(res, 400, { error: error.message });
        return;
      }
      report(error);
      reply(res, 500, { error: "checkout failed" });
    }
  });
}
