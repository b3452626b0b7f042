const assert = require("node:assert");

describe("pool", () => {
  it("hands out a connection", () => {
    assert.strictEqual(1, 1);
  });
});
