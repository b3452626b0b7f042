const { exportBalances, InvalidRow } = require("../src/exporter");
const { FileTable, TooManyOpenFiles } = require("../src/files");

describe("exportBalances", () => {
  test("writes a header and one line per customer", () => {
    const files = new FileTable();
    const text = exportBalances(files, "a.csv", [
      { id: 1, email: "ana@example.com", balanceCents: 1250 },
      { id: 2, email: "bo@example.com", balanceCents: -75 },
    ]);
    expect(text).toBe("id,email,balance\n1,ana@example.com,12.50\n2,bo@example.com,-0.75\n");
    expect(files.openCount).toBe(0);
  });

  test("refuses a row without an email address", () => {
    const files = new FileTable();
    expect(() => exportBalances(files, "b.csv", [{ id: 3, email: null, balanceCents: 0 }])).toThrow(
      InvalidRow,
    );
  });
});

describe("FileTable", () => {
  test("refuses to open more files than its limit", () => {
    const files = new FileTable(2);
    files.open("x");
    files.open("y");
    expect(() => files.open("z")).toThrow(TooManyOpenFiles);
  });
});
