class ConnectionPoolExhausted extends Error {
  constructor(message) {
    super(message);
    this.name = "ConnectionPoolExhausted";
  }
}

class Pool {
  constructor(size = 10) {
    this.size = size;
    this.inUse = 0;
  }

  acquire() {
    if (this.inUse >= this.size) {
      throw new ConnectionPoolExhausted(`all ${this.size} connections are in use`);
    }
    this.inUse += 1;
    return this.inUse;
  }

  release() {
    this.inUse = Math.max(0, this.inUse - 1);
  }
}

module.exports = { Pool, ConnectionPoolExhausted };
