// The configured provider: one cloudlet engine reached through the shared engine client, with what resources
// need on top of raw calls: waiting on operations with progress in Terraform's log, cancellation, errors
// turned into diagnostics that say what to do, and one instance listing shared by many reads during a plan.

import { CloudletError, errorInfo } from '../../engine/errors';
import { EngineClient } from '../../engine/client/client';
import { BaseRecord, InstanceDetailRecord, InstanceRecord, OperationOf, OverlayViewRecord } from '../../engine/contract/schemas';
import { DiagnosticError, PathStep, error, fail } from '../protocol/diagnostics';
import { log } from '../protocol/log';

/** The engine's objects as its API answers them (engine/contract/schemas.ts). */
export type EngineInstance = InstanceRecord;
export type EngineInstanceDetail = InstanceDetailRecord;
export type EngineBase = BaseRecord;
export type EngineOverlay = OverlayViewRecord;

/** How long one listing of instances answers reads (a plan refreshes every instance at once). */
const LISTING_TTL_MS = 1500;

/** A peer cloudlet from the provider configuration (handoff sources). */
export interface PeerSpec {
  name: string;
  endpoint?: string;
  stateDir?: string;
  token?: string;
  ca?: string;
}

export class Cloudlet {
  private listing: { at: number; items: Promise<Map<string, EngineInstance>> } | null = null;
  private peerConnections: Promise<{ spec: PeerSpec; cloudlet: Cloudlet | null; error?: string }[]> | null = null;

  constructor(
    readonly client: EngineClient,
    /** The endpoint as the user sees it (no token). */
    readonly endpoint: string,
    readonly id: string,
    readonly name: string,
    readonly peers: PeerSpec[] = [],
    /** The peer's configuration, for a Cloudlet that is a peer of the configured one. */
    readonly spec?: PeerSpec,
  ) {}

  async close(): Promise<void> {
    await this.client.close();
    if (this.peerConnections) for (const p of await this.peerConnections) await p.cloudlet?.close();
  }

  /**
   * The configured peer that is cloudlet `id` (each peer is asked who it is once per provider process), or a
   * diagnostic saying which peers there are and what they answered.
   */
  async peer(id: string, shownEndpoint: string, signal?: AbortSignal): Promise<Cloudlet> {
    this.peerConnections ??= Promise.all(this.peers.map((spec) => connectPeer(spec, signal)));
    const all = await this.peerConnections;
    const hit = all.find((p) => p.cloudlet?.id === id);
    if (hit) return hit.cloudlet!;
    const seen = all.map((p) => `  - ${p.spec.name}: ${p.cloudlet ? `cloudlet ${p.cloudlet.id}` : `unreachable (${p.error})`}`).join('\n');
    fail(
      'Instance is on a cloudlet this configuration cannot reach',
      `The state says this instance runs on cloudlet ${id} (${shownEndpoint}), but this provider configuration is cloudlet ${this.id} (${this.endpoint}) and none of its peers is ${id}.${seen ? `\nPeers:\n${seen}` : ' It has no peers.'}\n\nTo move the instance here (handoff), add a \`peer\` block for ${id} to this provider configuration; to leave it where it is, point the resource back at that cloudlet's provider configuration.`,
    );
  }

  /**
   * One API call through the typed client (`(api) => api.bases.get(id, { signal })`); engine errors become
   * diagnostics naming `what` was being done. A call that changes something (`changes`) drops the cached
   * instance listing.
   */
  async call<T>(what: string, fn: (api: EngineClient) => Promise<T>, opts: { signal?: AbortSignal; changes?: boolean } = {}): Promise<T> {
    try {
      return await fn(this.client);
    } catch (e) {
      if (opts.signal?.aborted) fail('Cancelled', `${what} on ${this.endpoint} was cancelled (Terraform was interrupted, or the timeout passed).`);
      throw engineDiagnostic(e, this.endpoint);
    } finally {
      if (opts.changes) this.listing = null;
    }
  }

  /** As `call`, with NOT_FOUND answered as null (reads of objects that may be gone, deletes of such). */
  async find<T>(what: string, fn: (api: EngineClient) => Promise<T>, opts: { signal?: AbortSignal; changes?: boolean } = {}): Promise<T | null> {
    const orNull = (e: unknown) => {
      if ((e as CloudletError).code === 'NOT_FOUND') return null;
      throw e;
    };
    return this.call(what, (api) => fn(api).catch(orNull), opts);
  }

  /** Starts an operation and waits for it, logging progress; the context's signal cancels it on the engine. */
  async operation<T>(what: string, start: (api: EngineClient) => Promise<{ operation: OperationOf<T> }>, signal: AbortSignal): Promise<OperationOf<T> & { result: T }> {
    // Not abortable: the engine answers at once with the operation it started, and an abort in between
    // would leave that operation running with no one knowing its id. Cancellation happens in wait().
    const { operation } = await this.call(what, start, { changes: true });
    let lastLog = 0;
    let lastPhase = '';
    try {
      const done = await this.client.wait(
        operation,
        (op) => {
          const now = Date.now();
          if (op.phase !== lastPhase || now - lastLog > 5000) {
            lastLog = now;
            lastPhase = op.phase;
            const pct = op.total > 0 ? ` ${Math.floor((100 * op.done) / op.total)}% of ${(op.total / 1048576).toFixed(1)} MiB` : '';
            log('info', `${what}: ${op.phase}${pct}`, { operation: op.id });
          }
        },
        { signal },
      );
      log('info', `${what}: done`, { operation: done.id, timings: done.timings });
      // wait() returns only succeeded operations, and a succeeded operation has its result.
      return done as OperationOf<T> & { result: T };
    } catch (e) {
      if (signal.aborted) {
        // wait() has cancelled the operation on the engine.
        fail(`${what} cancelled`, `The operation ${operation.id} was cancelled on the engine at ${this.endpoint} (Terraform was interrupted, or the timeout passed). Nothing half-made was kept.`);
      }
      throw engineDiagnostic(e, this.endpoint);
    } finally {
      this.listing = null;
    }
  }

  /** An instance by id, from a listing shared by the reads of one plan. */
  async instance(id: string, signal?: AbortSignal): Promise<EngineInstance | null> {
    if (!this.listing || Date.now() - this.listing.at > LISTING_TTL_MS) {
      const items = this.call('list instances', (api) => api.instances.list({ signal }), { signal }).then((r) => new Map(r.instances.map((i) => [i.id, i])));
      this.listing = { at: Date.now(), items };
      items.catch(() => (this.listing = null));
    }
    return (await this.listing.items).get(id) ?? null;
  }

  private readonly bases = new Map<string, EngineBase>();

  /** A base by id (bases are immutable, so they are cached for the process). */
  async base(id: string, signal?: AbortSignal): Promise<EngineBase | null> {
    const have = this.bases.get(id);
    if (have) return have;
    const b = await this.find(`read base ${id}`, (api) => api.bases.get(id, { signal }), { signal });
    if (b) this.bases.set(id, b);
    return b;
  }
}

/** An engine failure as a diagnostic: the engine's message and code, and a hint where there is one. */
export function engineDiagnostic(e: unknown, endpoint: string, path?: PathStep[]): DiagnosticError {
  if (e instanceof DiagnosticError) return e;
  const err = e as CloudletError;
  const code = err?.code ?? 'INTERNAL';
  const msg = err?.message ?? String(e);
  const { summary, hint } = errorInfo(code);
  return new DiagnosticError([error(summary, `${msg}${hint ? `\n\n${hint}` : ''}\n\n(engine ${endpoint}, code ${code})`, path)]);
}

async function connectPeer(spec: PeerSpec, signal?: AbortSignal): Promise<{ spec: PeerSpec; cloudlet: Cloudlet | null; error?: string }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { EngineClient: Client, connectLocal } = require('../../engine/client/client') as typeof import('../../engine/client/client');
  let client: EngineClient | null = null;
  try {
    let endpoint = spec.endpoint ?? '';
    let token = spec.token ?? '';
    if (spec.stateDir) ({ endpoint, token } = await connectLocal(spec.stateDir, { signal }));
    client = new Client({ endpoint, token, ca: spec.ca });
    const info = await client.engine.info({ signal, timeoutMs: 15000 });
    return { spec, cloudlet: new Cloudlet(client, endpoint, info.cloudlet.id, info.cloudlet.name, [], { ...spec, endpoint, token }) };
  } catch (e) {
    await client?.close().catch(() => undefined);
    return { spec, cloudlet: null, error: (e as Error).message };
  }
}
