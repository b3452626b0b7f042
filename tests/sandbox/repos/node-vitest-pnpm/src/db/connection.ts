export class PoolExhaustedError extends Error {
  override name = "PoolExhaustedError";
}

export class Pool {
  private inUse = 0;

  constructor(readonly size: number = 10) {}

  acquire(): number {
    if (this.inUse >= this.size) {
      throw new PoolExhaustedError(`all ${this.size} connections are in use`);
    }
    this.inUse += 1;
    return this.inUse;
  }

  release(): void {
    this.inUse = Math.max(0, this.inUse - 1);
  }
}
