/** Entry point: `node --enable-source-maps dist/main.js` (PORT, default 8080). */

import { makeServer } from "./server";

const port = Number(process.env.PORT ?? "8080");
makeServer().listen(port, "127.0.0.1", () => {
  console.log(`checkout service listening on http://127.0.0.1:${port}`);
});
