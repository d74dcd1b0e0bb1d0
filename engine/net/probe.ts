// Round-trip time from this cloudlet host to a client address, for placing instances near their clients: the
// time a TCP connection takes to be answered, SYN to SYN-ACK (accepted) or to RST (refused): either is one
// round trip, so a client need not listen on the port. ICMP would need a raw socket (root or a capability).

import * as net from 'node:net';

export interface ProbeResult {
  address: string;
  port: number;
  /** The median of the answered attempts, in milliseconds; null when none was answered. */
  rttMs: number | null;
  samples: (number | null)[];
}

function once(address: string, port: number, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
    const s = net.connect({ host: address, port });
    const timer = setTimeout(() => (s.destroy(), resolve(null)), timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      const t = ms();
      s.destroy();
      resolve(t);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code === 'ECONNREFUSED' ? ms() : null);
    });
  });
}

export async function probeRoundTrip(address: string, port: number, attempts: number, timeoutMs = 2000): Promise<ProbeResult> {
  const samples: (number | null)[] = [];
  for (let i = 0; i < attempts; i++) samples.push(await once(address, port, timeoutMs));
  const answered = samples.filter((x): x is number => x !== null).sort((a, b) => a - b);
  const rttMs = answered.length ? Math.round(answered[Math.floor((answered.length - 1) / 2)] * 1000) / 1000 : null;
  return { address, port, rttMs, samples: samples.map((x) => (x === null ? null : Math.round(x * 1000) / 1000)) };
}
