// What the handoff benchmarks observe from outside the engines: when a VM's serial console last and first grew
// (the guest's own ticker), and the longest time a client polling the application got no answer.

import * as fs from 'node:fs';
import { OperationView } from '../../engine/client/client';
import { TestEngine } from '../helpers/engine';

/** Records when a file last grew before `until`, and when it first grew after `from`, by polling its size. */
export class GrowthWatch {
  private timer: NodeJS.Timeout;
  private size = -1;
  readonly growths: number[] = [];
  constructor(readonly file: string) {
    this.timer = setInterval(() => {
      let n = -1;
      try {
        n = fs.statSync(file).size;
      } catch {
        return;
      }
      if (this.size >= 0 && n > this.size) this.growths.push(Date.now());
      this.size = n;
    }, 10);
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

/** The destination's host port for the app (given in the handoff request, so the client knows it up front). */
export const DEST_PORT = 18080;
/** A cheap request the app answers from its database (one row's digest). */
const APP_PATH = '/item/1';

/**
 * A client outside the VM: every 100 ms it asks each endpoint (the source's and the destination's) for
 * APP_PATH, and records when an answer came. The outage it sees is the longest gap between answers.
 */
export class ClientPoller {
  private readonly answers: number[] = [];
  private timer: NodeJS.Timeout;
  polls = 0;
  constructor(readonly urls: string[]) {
    this.timer = setInterval(() => {
      for (const u of this.urls) {
        this.polls++;
        fetch(`${u}${APP_PATH}`, { signal: AbortSignal.timeout(1000) })
          .then(async (r) => {
            if (r.ok && (await r.text()).includes('sha256')) this.answers.push(Date.now());
          })
          .catch(() => undefined);
      }
    }, 100);
  }
  /** The longest gap between answers in [from, to] (answers just outside bound it). */
  longestGap(from: number, to: number): number | null {
    const ts = [...this.answers].sort((x, y) => x - y);
    const inside = ts.filter((t) => t >= from && t <= to);
    const before = ts.filter((t) => t < from).at(-1);
    const after = ts.find((t) => t > to);
    const seq = [...(before !== undefined ? [before] : []), ...inside, ...(after !== undefined ? [after] : [])];
    if (seq.length < 2) return null;
    let gap = 0;
    for (let i = 1; i < seq.length; i++) gap = Math.max(gap, seq[i] - seq[i - 1]);
    return gap / 1000;
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

/** What a watched handoff gives: the destination's operation, and the outage as the guest and a client saw it. */
export interface ObservedHandoff {
  done: OperationView;
  t0: number;
  t1: number;
  totalSeconds: number;
  /** The last tick on the source's console to the first on the destination's. */
  guestGapSeconds: number | null;
  clientGapSeconds: number | null;
  clientPolls: number;
}

/**
 * Hands running instance `id` off from `source` to `destination` (pulled by the destination, its port 80 published
 * there at DEST_PORT) while the guest ticks on its serial console and a client polls the app at both endpoints.
 * `sourceEndpoint`: how the destination reaches the source; `destinationHost`: where the client reaches the
 * destination; `tickerSettleMs`: how long the ticker runs before the watch starts.
 */
export async function observedHandoff(o: {
  source: TestEngine;
  destination: TestEngine;
  id: string;
  sourceEndpoint: string;
  destinationHost: string;
  tickerSettleMs: number;
}): Promise<ObservedHandoff> {
  const { source: a, destination: b, id } = o;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const srcEndpoint = (await a.instances.get(id)).endpoints[0];
  // The guest's ticker: a line every 100 ms on its serial console (a file on each host).
  await a.instances.exec(id, { command: "nohup sh -c 'while :; do date +%s.%N; sleep 0.1; done > /dev/ttyS0' >/dev/null 2>&1 &" });
  await sleep(o.tickerSettleMs);
  const srcWatch = new GrowthWatch(a.consolePath(id));
  const dstWatch = new GrowthWatch(b.consolePath(id));
  const client = new ClientPoller([srcEndpoint, `http://${o.destinationHost}:${DEST_PORT}`]);
  await sleep(2000);
  const grant = await a.instances.handoffToken(id, {});
  const t0 = Date.now();
  const { operation } = await b.handoffs.create({ source: { endpoint: o.sourceEndpoint, token: grant.token }, instanceId: id, ports: [{ guest: 80, host: DEST_PORT }] });
  const done = await b.settle(operation.id, 3600000);
  const t1 = Date.now();
  await sleep(3000);
  srcWatch.stop();
  dstWatch.stop();
  client.stop();
  const lastAtSource = srcWatch.growths.filter((t) => t >= t0).at(-1) ?? null;
  const firstAtDest = dstWatch.growths[0] ?? null;
  return {
    done,
    t0,
    t1,
    totalSeconds: (t1 - t0) / 1000,
    guestGapSeconds: lastAtSource !== null && firstAtDest !== null ? (firstAtDest - lastAtSource) / 1000 : null,
    clientGapSeconds: client.longestGap(t0, t1),
    clientPolls: client.polls,
  };
}
