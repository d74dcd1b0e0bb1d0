// What the handoff benchmarks observe from outside the engines: when a VM's serial console last and first grew
// (the guest's own ticker), and the longest time a client polling the application got no answer.

import * as fs from 'node:fs';

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
