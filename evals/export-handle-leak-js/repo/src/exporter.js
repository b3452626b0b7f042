"use strict";
/** CSV exports of customer balances: one file per export, written row by row. */

class InvalidRow extends Error {
  constructor(message) {
    super(message);
    this.name = "InvalidRow";
  }
}

function csvLine(row) {
  if (typeof row.email !== "string" || !row.email.includes("@")) {
    throw new InvalidRow(`row ${row.id}: email ${JSON.stringify(row.email)} is not an address`);
  }
  if (!Number.isInteger(row.balanceCents)) {
    throw new InvalidRow(`row ${row.id}: balance ${JSON.stringify(row.balanceCents)} is not in cents`);
  }
  return `${row.id},${row.email},${(row.balanceCents / 100).toFixed(2)}\n`;
}

/**
 * Write `rows` to the file `name` and return its text. A row that cannot be exported
 * raises InvalidRow (the caller answers 422: the data needs fixing, not the service).
 */
function exportBalances(files, name, rows) {
  const fd = files.open(name);
  files.write(fd, "id,email,balance\n");
  for (const row of rows) {
    files.write(fd, csvLine(row));
  }
  return files.close(fd);
}

module.exports = { InvalidRow, csvLine, exportBalances };
