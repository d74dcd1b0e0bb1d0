// Client of the engine API, shared by the CLI and the Terraform provider (one code path, two clients).
// Endpoints: `unix:/path/engine.sock`, `http://host:port`, `https://host:port` (with an optional CA).
// With no endpoint, `connectLocal` uses the default state directory's engine, starting it in the background
// when it is not running.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { Static } from '@sinclair/typebox';
import { Agent, Dispatcher } from 'undici';
import { CLIENT_HEADER, ROUTES, Routes, routePath } from '../contract/routes';
import { ApiGroups, CallOptions, typedMethods, withQuery } from '../contract/methods';
import { OperationOf, OperationRecord } from '../contract/schemas';
import { CloudletError, ErrorCode } from '../errors';

export interface ClientOptions {
  endpoint: string;
  token: string;
  /** PEM of a CA to trust for https endpoints (besides the system store). */
  ca?: string;
  /** Per-request timeout for ordinary calls (default 120 s). */
  timeoutMs?: number;
  /** Who is calling (`terraform`, `cli`): sent in the x-cloudlet-client header, recorded on what the engine makes. */
  client?: string;
}

/** An operation as the engine answers it (engine/contract/schemas.ts). */
export type OperationView = OperationRecord;

export type { ApiGroups, CallOptions } from '../contract/methods';

/**
 * TLS trust for https endpoints: the system store, plus the configured CA, plus CLOUDLET_EXTRA_CA_CERTS. The
 * provider's launcher moves NODE_EXTRA_CA_CERTS there because Node reads that file at every start, which
 * costs tens of milliseconds of Terraform's provider start-up; it is honoured here, when TLS is used.
 */
function trustFor(ca?: string): { ca?: string[] } {
  const extra = process.env.CLOUDLET_EXTRA_CA_CERTS;
  if (!ca && !extra) return {};
  const all = [...tls.rootCertificates];
  if (extra) {
    try {
      all.push(fs.readFileSync(extra, 'utf8'));
    } catch {
      // Node itself only warns about an unreadable NODE_EXTRA_CA_CERTS; so do we, by ignoring it.
    }
  }
  if (ca) all.push(ca);
  return { ca: all };
}

export function defaultStateDir(): string {
  if (process.env.CLOUDLET_STATE_DIR) return path.resolve(process.env.CLOUDLET_STATE_DIR);
  const data = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'cloudlet');
}

export class EngineClient {
  private readonly dispatcher: Dispatcher;
  private readonly origin: string;
  readonly engine: ApiGroups['engine'];
  readonly bases: ApiGroups['bases'];
  readonly overlays: ApiGroups['overlays'];
  readonly instances: ApiGroups['instances'];
  readonly handoffs: ApiGroups['handoffs'];
  readonly operations: ApiGroups['operations'];
  readonly networks: ApiGroups['networks'];
  readonly dashboard: ApiGroups['dashboard'];
  readonly peers: ApiGroups['peers'];

  constructor(readonly o: ClientOptions) {
    if (o.endpoint.startsWith('unix:')) {
      this.dispatcher = new Agent({ connect: { socketPath: o.endpoint.slice(5) } });
      this.origin = 'http://localhost';
    } else if (/^https?:\/\//.test(o.endpoint)) {
      this.dispatcher = new Agent({ connect: trustFor(o.ca) });
      this.origin = o.endpoint.replace(/\/+$/, '');
    } else {
      throw new CloudletError('INVALID_ARGUMENT', `endpoint: expected unix:PATH, http://HOST:PORT or https://HOST:PORT, got ${JSON.stringify(o.endpoint)}`);
    }
    const groups = this.typedMethods();
    this.engine = groups.engine;
    this.bases = groups.bases;
    this.overlays = groups.overlays;
    this.instances = groups.instances;
    this.handoffs = groups.handoffs;
    this.operations = groups.operations;
    this.networks = groups.networks;
    this.dashboard = groups.dashboard;
    this.peers = groups.peers;
  }

  /** One method per JSON route, taking its arguments in the order the route defines (see ApiGroups). */
  private typedMethods(): ApiGroups {
    return typedMethods((method, p, body, opts) => this.call(method, p, body, opts));
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** The token, and the client's name when it has one. */
  private identity(): Record<string, string> {
    return { authorization: `Bearer ${this.o.token}`, ...(this.o.client ? { [CLIENT_HEADER]: this.o.client } : {}) };
  }

  /** Sends a request with the token and a JSON body (if any); an unreachable engine is a typed error. */
  private async request(method: string, p: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    try {
      return await this.dispatcher.request({
        origin: this.origin,
        path: p,
        method: method,
        headers: { ...this.identity(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal,
      });
    } catch (e) {
      throw unreachable(this.o.endpoint, e);
    }
  }

  /** One API call by method and path (what the typed methods above run); a JSON error body becomes a CloudletError with the engine's code. */
  private async call<T = Record<string, unknown>>(method: string, p: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
    const res = await this.request(method, p, body, opts.timeoutMs ?? this.o.timeoutMs ?? 120000, opts.signal);
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new CloudletError('ENGINE_UNAVAILABLE', `${this.o.endpoint} answered ${res.statusCode} with a body that is not JSON; is it a cloudlet engine?`);
    }
    if (res.statusCode >= 400) throw this.errorOf(res.statusCode, parsed);
    return parsed as T;
  }

  /** The engine's error answer (`{"error":{"code","message"}}`) as a typed error; a 401 says what to check. */
  private errorOf(status: number, body: unknown): CloudletError {
    if (status === 401) return new CloudletError('UNAUTHORIZED', `${this.o.endpoint} refused the token (HTTP 401): check the token you configured`);
    const err = (body as { error?: { code?: ErrorCode; message?: string } } | null)?.error;
    return new CloudletError(err?.code ?? 'INTERNAL', err?.message ?? `HTTP ${status}`);
  }

  /** Polls an operation until it ends, reporting progress; a failed operation becomes its typed error. */
  async wait<T>(op: OperationOf<T>, onProgress?: (op: OperationOf<T>) => void, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<OperationOf<T>> {
    const deadline = Date.now() + (opts.timeoutMs ?? 24 * 3600 * 1000);
    let cur = op;
    onProgress?.(cur);
    try {
      while (cur.state === 'running') {
        if (opts.signal?.aborted) throw new CloudletError('CANCELLED', 'aborted');
        if (Date.now() > deadline) throw new CloudletError('CANCELLED', `operation ${cur.id} did not finish in time (still in phase ${cur.phase})`);
        // The engine holds each poll up to a second, answering at once when the operation ends.
        // The same operation, polled: its result has the type the route that started it declares.
        cur = (await this.operations.get(cur.id, { wait: 1 }, { signal: opts.signal })) as OperationOf<T>;
        onProgress?.(cur);
      }
    } catch (e) {
      // Aborted between polls or during one: the engine must stop too.
      if (!opts.signal?.aborted) throw e;
      await this.operations.cancel(cur.id).catch(() => undefined);
      throw new CloudletError('CANCELLED', `operation ${cur.id} cancelled`);
    }
    if (cur.state !== 'succeeded') throw new CloudletError(cur.error?.code ?? 'INTERNAL', cur.error?.message ?? `operation ${cur.id} ${cur.state}`);
    return cur;
  }

  /**
   * A call whose answer is a byte stream (a handoff): the body as a ByteSource-like reader, and close() to
   * drop the connection. A stall longer than `stallTimeoutMs` between pieces fails the read.
   */
  private async stream(
    method: string,
    p: string,
    body: unknown,
    opts: { signal?: AbortSignal; stallTimeoutMs?: number } = {},
  ): Promise<{ source: { read(): Promise<Uint8Array | null> }; close(): void }> {
    const res = await this.request(method, p, body, opts.stallTimeoutMs ?? 120000, opts.signal);
    if (res.statusCode >= 400) throw this.errorOf(res.statusCode, await res.body.json().catch(() => ({})));
    const it = res.body[Symbol.asyncIterator]();
    const endpoint = this.o.endpoint;
    return {
      source: {
        async read() {
          try {
            const r = await it.next();
            return r.done ? null : (r.value as Buffer);
          } catch (e) {
            throw unreachable(endpoint, e);
          }
        },
      },
      close: () => res.body.destroy(),
    };
  }

  /** The handoff stream of an instance at this (source) engine (route instances.handoffStream). */
  handoffStream(id: string, body: Static<Routes['instances.handoffStream']['body']>, opts: { signal?: AbortSignal; stallTimeoutMs?: number } = {}) {
    return this.stream(ROUTES['instances.handoffStream'].method, routePath('instances.handoffStream', id), body, opts);
  }

  /** Stores an overlay file on the engine, sent as the request body (route overlays.upload). */
  uploadOverlay(file: string, query: Static<Routes['overlays.upload']['query']> = {}, opts: { signal?: AbortSignal } = {}): Promise<Static<Routes['overlays.upload']['response']>> {
    return this.upload(withQuery(routePath('overlays.upload'), query), file, opts);
  }

  /** Downloads an overlay file (route overlays.file). */
  downloadOverlay(id: string, file: string, onProgress?: (done: number, total: number) => void): Promise<number> {
    return this.download(routePath('overlays.file', id), file, onProgress);
  }

  /** Downloads a base as its tar archive (route bases.archive). */
  downloadBaseArchive(id: string, file: string, onProgress?: (done: number, total: number) => void): Promise<number> {
    return this.download(routePath('bases.archive', id), file, onProgress);
  }

  /** Streams a raw body upload (an overlay file). */
  private async upload<T>(p: string, file: string, opts: { signal?: AbortSignal } = {}): Promise<T> {
    let res: Dispatcher.ResponseData;
    try {
      res = await this.dispatcher.request({
        origin: this.origin,
        path: p,
        method: 'POST',
        signal: opts.signal,
        headers: { ...this.identity(), 'content-type': 'application/octet-stream', 'content-length': String(fs.statSync(file).size) },
        body: fs.createReadStream(file),
      });
    } catch (e) {
      throw unreachable(this.o.endpoint, e);
    }
    const parsed = (await res.body.json()) as T & { error?: { code: ErrorCode; message: string } };
    if (res.statusCode >= 400) throw new CloudletError(parsed.error?.code ?? 'INTERNAL', parsed.error?.message ?? `HTTP ${res.statusCode}`);
    return parsed;
  }

  /** Streams a GET body to a file (written to a temporary name, renamed when complete). */
  private async download(p: string, file: string, onProgress?: (done: number, total: number) => void): Promise<number> {
    let res: Dispatcher.ResponseData;
    try {
      res = await this.dispatcher.request({ origin: this.origin, path: p, method: 'GET', headers: { authorization: `Bearer ${this.o.token}` } });
    } catch (e) {
      throw unreachable(this.o.endpoint, e);
    }
    if (res.statusCode >= 400) throw this.errorOf(res.statusCode, await res.body.json().catch(() => ({})));
    const total = Number(res.headers['content-length'] ?? 0);
    const tmp = `${file}.part-${process.pid}`;
    const fd = fs.openSync(tmp, 'w');
    let done = 0;
    try {
      for await (const c of res.body) {
        fs.writeSync(fd, c as Buffer);
        done += (c as Buffer).length;
        onProgress?.(done, total);
      }
      if (total && done !== total) throw new CloudletError('DOWNLOAD_FAILED', `download ended after ${done} of ${total} bytes`);
      fs.fsyncSync(fd);
    } catch (e) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
    return done;
  }
}

function unreachable(endpoint: string, e: unknown): CloudletError {
  if (e instanceof CloudletError) return e;
  const err = e as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err.code ?? err.cause?.code;
  if (err?.message?.includes('aborted') || code === 'UND_ERR_ABORTED') return new CloudletError('CANCELLED', 'cancelled');
  const why =
    code === 'ECONNREFUSED'
      ? 'connection refused'
      : code === 'ENOENT'
        ? 'no engine socket there'
        : code === 'UND_ERR_HEADERS_TIMEOUT'
          ? 'timed out waiting for an answer'
          : (err.cause?.message ?? err.message ?? String(e));
  return new CloudletError('ENGINE_UNAVAILABLE', `cannot reach the cloudlet engine at ${endpoint}: ${why}`, e);
}

export interface LocalEngine {
  stateDir: string;
  endpoint: string;
  token: string;
}

/**
 * The local default engine for a state directory: its socket and token, starting it in the background
 * (logging to <state>/engine.log) if it is not answering.
 */
export async function connectLocal(stateDir = defaultStateDir(), opts: { startTimeoutMs?: number; libvirtUri?: string; signal?: AbortSignal } = {}): Promise<LocalEngine> {
  const sock = path.join(stateDir, 'engine.sock');
  const tokenFile = path.join(stateDir, 'token');
  const endpoint = `unix:${sock}`;
  const probe = async (): Promise<boolean> => {
    if (!fs.existsSync(sock) || !fs.existsSync(tokenFile)) return false;
    const c = new EngineClient({ endpoint, token: fs.readFileSync(tokenFile, 'utf8').trim(), timeoutMs: 5000 });
    try {
      await c.engine.info();
      return true;
    } catch (e) {
      if ((e as CloudletError).code === 'UNAUTHORIZED') throw e;
      return false;
    } finally {
      await c.close();
    }
  };
  if (!(await probe())) {
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const logFd = fs.openSync(path.join(stateDir, 'engine.log'), 'a');
    // A bundled client (the Terraform provider) lives away from the engine's files and is told where they are.
    const main = process.env.CLOUDLET_ENGINE_MAIN || path.join(__dirname, '..', 'cli', 'main.js');
    if (!fs.existsSync(main))
      throw new CloudletError('ENGINE_UNAVAILABLE', `cannot start the local engine: ${main} does not exist (build the project with npm run build, or set CLOUDLET_ENGINE_MAIN)`);
    const args = [main, 'engine', 'serve', '--state-dir', stateDir];
    if (opts.libvirtUri) args.push('--libvirt-uri', opts.libvirtUri);
    const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', logFd, logFd], env: process.env });
    child.unref();
    fs.closeSync(logFd);
    const deadline = Date.now() + (opts.startTimeoutMs ?? 60000);
    let exited: number | null = null;
    child.on('exit', (c) => (exited = c ?? -1));
    for (;;) {
      await new Promise((r) => setTimeout(r, 150));
      if (opts.signal?.aborted) throw new CloudletError('CANCELLED', 'cancelled while waiting for the local engine to start');
      if (await probe()) break;
      // A second client may have started it first (its engine holds the lock and ours exits): keep probing.
      if (Date.now() > deadline) {
        const log = fs.readFileSync(path.join(stateDir, 'engine.log'), 'utf8').split('\n').slice(-15).join('\n');
        throw new CloudletError(
          'ENGINE_UNAVAILABLE',
          `the local engine for ${stateDir} did not start within ${(opts.startTimeoutMs ?? 60000) / 1000} s${exited !== null ? ` (it exited with ${String(exited)})` : ''}; last lines of engine.log:\n${log}`,
        );
      }
    }
  }
  return { stateDir, endpoint, token: fs.readFileSync(tokenFile, 'utf8').trim() };
}

/** Query parameters are plain strings and numbers in the contract (sha256, wait, sig). */
