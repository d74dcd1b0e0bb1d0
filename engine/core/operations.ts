// Long-running work as operations: an id a client can poll or wait on, the current phase, bytes done/total,
// and a final result or typed error. Records are persisted on every phase change and at the end (progress in
// between lives in memory), so after a crash an operation is never left "running" (see Engine.recover).

import { CloudletError } from '../errors';
import { OperationRecord, Store, newId } from '../store/store';

export class Operation {
  readonly abort = new AbortController();
  private phaseStart = Date.now();
  private readonly waiters: (() => void)[] = [];

  constructor(
    readonly rec: OperationRecord,
    private readonly store: Store,
  ) {}

  get id(): string {
    return this.rec.id;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Enters a new phase; the time spent in the previous one is recorded in `timings`. */
  phase(name: string, total = 0): void {
    this.closePhase();
    this.rec.phase = name;
    this.rec.done = 0;
    this.rec.total = total;
    this.touch(true);
  }

  progress(done: number, total?: number): void {
    this.rec.done = done;
    if (total !== undefined) this.rec.total = total;
    this.touch(false);
  }

  /** Records a step reached (shown by `cloudlet operation show`); the first 50 are kept. */
  note(text: string): void {
    const notes = (this.rec.notes ??= []);
    if (notes.length < 50) notes.push(text);
    this.touch(true);
  }

  setTarget(t: OperationRecord['target']): void {
    this.rec.target = t;
    this.touch(true);
  }

  throwIfCancelled(): void {
    if (this.abort.signal.aborted) throw new CloudletError('CANCELLED', 'the operation was cancelled');
  }

  finish(result: unknown): void {
    this.closePhase();
    this.rec.state = 'succeeded';
    this.rec.phase = 'done';
    this.rec.result = result;
    this.touch(true);
    this.wake();
  }

  fail(e: unknown): void {
    this.closePhase();
    const err = e instanceof CloudletError ? e : new CloudletError('INTERNAL', (e as Error)?.message ?? String(e));
    this.rec.state = err.code === 'CANCELLED' ? 'cancelled' : 'failed';
    this.rec.error = { code: err.code, message: err.message };
    this.touch(true);
    this.wake();
  }

  get finished(): boolean {
    return this.rec.state !== 'running';
  }

  /** Resolves when the operation ends or after timeoutMs, whichever is first. */
  wait(timeoutMs: number): Promise<void> {
    if (this.finished || timeoutMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private closePhase(): void {
    const now = Date.now();
    if (this.rec.phase && this.rec.phase !== 'queued') {
      // Seconds, to the millisecond; a phase entered twice accumulates.
      this.rec.timings[this.rec.phase] = Math.round((this.rec.timings[this.rec.phase] ?? 0) * 1000 + (now - this.phaseStart)) / 1000;
    }
    this.phaseStart = now;
  }

  private touch(persist: boolean): void {
    this.rec.updated = new Date().toISOString();
    if (persist) this.store.putOperation(this.rec);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

export class OperationTable {
  private readonly live = new Map<string, Operation>();
  /** Operations of earlier engine runs, read from the store once (this engine is their only writer). */
  private earlier: Map<string, OperationRecord> | null = null;

  constructor(
    private readonly store: Store,
    private readonly log: (s: string) => void,
  ) {}

  /** Read on first use, which comes after crash recovery has settled interrupted operations. */
  private past(): Map<string, OperationRecord> {
    this.earlier ??= new Map(this.store.listOperations().map((o) => [o.id, o]));
    return this.earlier;
  }

  /** Starts `work` as a new operation and returns at once. */
  start(kind: string, requestId: string | undefined, work: (op: Operation) => Promise<unknown>): Operation {
    const now = new Date().toISOString();
    const rec: OperationRecord = { id: newId('op'), kind, state: 'running', phase: 'queued', done: 0, total: 0, requestId, created: now, updated: now, timings: {} };
    const op = new Operation(rec, this.store);
    this.live.set(rec.id, op);
    this.store.putOperation(rec);
    const t0 = Date.now();
    void (async () => {
      try {
        const result = await work(op);
        op.rec.timings.total = (Date.now() - t0) / 1000;
        op.finish(result);
        this.log(`operation ${rec.id} (${kind}) succeeded in ${op.rec.timings.total} s`);
      } catch (e) {
        op.rec.timings.total = (Date.now() - t0) / 1000;
        op.fail(e);
        this.log(`operation ${rec.id} (${kind}) ${op.rec.state}: ${op.rec.error?.code}: ${op.rec.error?.message}`);
      }
    })();
    return op;
  }

  get(id: string): OperationRecord | null {
    return this.live.get(id)?.rec ?? this.past().get(id) ?? null;
  }

  /** Asks a running operation to stop; a finished one is returned as it is. */
  cancel(id: string): OperationRecord {
    const op = this.liveOp(id);
    if (!op) {
      const rec = this.get(id);
      if (!rec) throw new CloudletError('NOT_FOUND', `no operation ${id}`);
      return rec;
    }
    op.abort.abort();
    return op.rec;
  }

  liveOp(id: string): Operation | undefined {
    return this.live.get(id);
  }

  /** The operation a client started with this request id, if any (for idempotent retries). */
  byRequestId(kind: string, requestId: string): OperationRecord | null {
    for (const op of this.live.values()) if (op.rec.kind === kind && op.rec.requestId === requestId) return op.rec;
    for (const o of this.past().values()) if (o.kind === kind && o.requestId === requestId) return o;
    return null;
  }

  list(): OperationRecord[] {
    const byId = new Map(this.past());
    for (const op of this.live.values()) byId.set(op.id, op.rec);
    return [...byId.values()].sort((a, b) => a.created.localeCompare(b.created));
  }

  running(): Operation[] {
    return [...this.live.values()].filter((o) => !o.finished);
  }
}
