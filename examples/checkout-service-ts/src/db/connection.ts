/** The database connection pool every checkout borrows a connection from. */

export const POOL_SIZE = 10;

export class ConnectionPoolExhausted extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConnectionPoolExhausted";
  }
}

/** One database connection; a query takes `queryMs` milliseconds. */
export class Connection {
  constructor(
    readonly id: number,
    private readonly queryMs: number,
  ) {}

  async query(sql: string, params: unknown[] = []): Promise<{ sql: string; rows: number }> {
    await new Promise((resolve) => setTimeout(resolve, this.queryMs));
    return { sql, rows: params.length };
  }
}

/** Hands out connections to requests and takes them back. */
export class ConnectionPool {
  readonly size = POOL_SIZE;
  private readonly free: Connection[];

  constructor(queryMs = 20) {
    this.free = Array.from({ length: this.size }, (_, n) => new Connection(n, queryMs));
  }

  async acquire(): Promise<Connection> {
    const conn = this.free.pop();
    if (conn === undefined) {
      throw new ConnectionPoolExhausted(`all ${this.size} database connections are in use`);
    }
    return conn;
  }

  release(conn: Connection): void {
    this.free.push(conn);
  }

  get available(): number {
    return this.free.length;
  }
}
