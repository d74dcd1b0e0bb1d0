// A TCP proxy between two engines, to stand in for the network in handoff tests: it can throttle the
// answer direction, cut the link (both connections reset), or black-hole it (connections stay open, nothing
// moves: only timeouts notice).

import * as net from 'node:net';

export type LinkMode = 'pass' | 'cut' | 'blackhole';

export class TcpProxy {
  private server: net.Server | null = null;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  /** Bytes forwarded from the target back to clients. */
  downBytes = 0;
  mode: LinkMode = 'pass';
  port = 0;

  /** `rateBytesPerSec` throttles the target → client direction (what a handoff source sends). */
  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    private readonly rateBytesPerSec = 0,
  ) {}

  static forEndpoint(endpoint: string, rateBytesPerSec = 0): TcpProxy {
    const u = new URL(endpoint);
    return new TcpProxy(u.hostname, Number(u.port), rateBytesPerSec);
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      const pair: [net.Socket, net.Socket] = [client, upstream];
      this.pairs.add(pair);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', drop);
      upstream.on('error', drop);
      client.on('close', drop);
      upstream.on('close', drop);
      client.on('data', (d) => {
        if (this.mode === 'pass') upstream.write(d);
      });
      let allowance = 0;
      let last = Date.now();
      upstream.on('data', (d: Buffer) => {
        if (this.mode !== 'pass') return;
        this.downBytes += d.length;
        client.write(d);
        if (this.rateBytesPerSec > 0) {
          const now = Date.now();
          allowance += ((now - last) / 1000) * this.rateBytesPerSec - d.length;
          last = now;
          if (allowance < 0) {
            upstream.pause();
            setTimeout(() => upstream.resume(), (-allowance / this.rateBytesPerSec) * 1000);
          }
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Resets every connection now and refuses to forward anything more. */
  cut(): void {
    this.mode = 'cut';
    for (const [a, b] of this.pairs) {
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    this.pairs.clear();
  }

  /** Stops moving bytes in both directions while keeping the connections open. */
  blackhole(): void {
    this.mode = 'blackhole';
    for (const [a, b] of this.pairs) {
      a.pause();
      b.pause();
    }
  }

  async stop(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
