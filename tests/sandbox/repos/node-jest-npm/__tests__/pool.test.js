const { Pool, ConnectionPoolExhausted } = require("../src/pool");

describe("pool", () => {
  it("hands out a connection", () => {
    expect(new Pool().acquire()).toBe(1);
  });

  it("refuses past its size", () => {
    const pool = new Pool(1);
    pool.acquire();
    expect(() => pool.acquire()).toThrow(ConnectionPoolExhausted);
  });
});
