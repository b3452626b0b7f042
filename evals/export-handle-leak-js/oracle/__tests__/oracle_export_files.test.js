const { exportBalances, InvalidRow } = require("../src/exporter");
const { FileTable, TooManyOpenFiles } = require("../src/files");

const bad = (n) => [
  { id: n, email: `c${n}@example.com`, balanceCents: 5 },
  { id: n + 1, email: "", balanceCents: 7 },
];
const good = [{ id: 1, email: "ana@example.com", balanceCents: 1250 }];

describe("oracle: exports give their files back", () => {
  test("a refused export leaves no file open and still reports the bad row", () => {
    const files = new FileTable();
    expect(() => exportBalances(files, "bad.csv", bad(1))).toThrow(InvalidRow);
    expect(files.openCount).toBe(0);
  });

  test("a refused export with a bad balance leaves no file open", () => {
    const files = new FileTable();
    const rows = [{ id: 4, email: "d@example.com", balanceCents: 1.5 }];
    expect(() => exportBalances(files, "bad.csv", rows)).toThrow(InvalidRow);
    expect(files.openCount).toBe(0);
  });

  test("a worker serves thousands of refused exports and then a good one", () => {
    const files = new FileTable();
    for (let n = 0; n < 3000; n++) {
      expect(() => exportBalances(files, `bad-${n}.csv`, bad(n))).toThrow(InvalidRow);
    }
    expect(files.openCount).toBe(0);
    expect(exportBalances(files, "good.csv", good)).toBe("id,email,balance\n1,ana@example.com,12.50\n");
  });

  test("a good export still closes its file", () => {
    const files = new FileTable();
    exportBalances(files, "a.csv", good);
    expect(files.openCount).toBe(0);
  });

  test("the descriptor limit is still enforced", () => {
    const files = new FileTable(1);
    files.open("held.csv");
    expect(() => exportBalances(files, "b.csv", good)).toThrow(TooManyOpenFiles);
  });
});
