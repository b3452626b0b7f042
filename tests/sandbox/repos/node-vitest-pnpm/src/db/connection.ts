export class ConnectionPoolExhausted extends Error {
  override name = "ConnectionPoolExhausted";
}

export class Pool {
  private inUse = 0;

  constructor(readonly size: number = 10) {}

  acquire(): number {
    if (this.inUse >= this.size) {
      throw new ConnectionPoolExhausted(`all ${this.size} connections are in use`);
    }
    this.inUse += 1;
    return this.inUse;
  }

  release(): void {
    this.inUse = Math.max(0, this.inUse - 1);
  }
}
