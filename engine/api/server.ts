// The engine's HTTP API (JSON over HTTP/1.1 on a unix socket or TCP, TLS when given a certificate). Every
// request carries `Authorization: Bearer <token>`, compared in constant time, or a dashboard session's cookie
// (dashboard.ts: HttpOnly, SameSite=Strict, and the session's CSRF token in a header on every request that
// changes something); the exceptions are an overlay download URL signed for that overlay (`?sig=`), which is
// what lets another cloudlet or any HTTP client fetch an overlay without holding this engine's token, and the
// dashboard's login. Errors are `{"error":{"code","message"}}` with the engine's error code; a 401 says
// nothing more than "unauthorized". The dashboard's page itself is served under /dashboard/.
// Which client made a request (its x-cloudlet-client header) is recorded on the objects it makes.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { Static, TSchema } from '@sinclair/typebox';
import { checked, checkedQuery, problemWith } from '../contract/check';
import { openApiDocument } from '../contract/openapi';
import { Access, CLIENT_HEADER, ROUTES, RouteName, RouteSpec, routePath } from '../contract/routes';
import { withClient } from '../core/request-context';
import { DashboardSessions, serveDashboard } from './dashboard';
import { OperationRecord, OverlayRecord, OverlayViewRecord, RESULTS } from '../contract/schemas';
import { ENGINE_VERSION, Engine } from '../core/engine';
import { CloudletError, errorInfo } from '../errors';
import { ByteSource } from '../io/io';
import { errorRecord } from '../handoff/wire';

const MAX_JSON = 1 << 20;

export interface ApiServerOptions {
  engine: Engine;
  token: string;
  tls?: { cert: string; key: string };
  log?: (line: string) => void;
  /**
   * Check every JSON answer against the contract and answer INTERNAL when one does not fit (the test suite
   * turns this on, with CLOUDLET_CHECK_ANSWERS=1, so every answer the tests see is checked).
   */
  checkAnswers?: boolean;
}

type Field<R, K extends string> = R extends { readonly [P in K]: infer S extends TSchema } ? Static<S> : undefined;

/** What a handler gets: the request and response, the path's id, and the body and query already checked. */
interface Call<R extends RouteSpec> {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  id: string;
  body: Field<R, 'body'>;
  query: Field<R, 'query'>;
}

/** A JSON route's handler returns its answer; raw routes (download, stream) answer themselves. */
type Handler<R extends RouteSpec> = (c: Call<R>) => Promise<R extends { readonly response: infer S extends TSchema } ? Static<S> : void>;
type Handlers = { [K in RouteName]: Handler<(typeof ROUTES)[K]> };

/** A handler as the dispatcher holds it: the body and query were checked against this route's schemas. */
type CheckedHandler = (c: { req: http.IncomingMessage; res: http.ServerResponse; id: string; body: unknown; query: unknown }) => Promise<unknown>;

interface Route {
  name: RouteName;
  spec: RouteSpec;
  re: RegExp;
  handler: CheckedHandler;
}

export class ApiServer {
  private readonly server: http.Server;
  private readonly routes: Route[] = [];
  private readonly checkAnswers: boolean;
  private readonly tokenDigest: Buffer;
  private readonly engine: Engine;
  private readonly log: (s: string) => void;
  private readonly signingKey: Buffer;
  private readonly sessions: DashboardSessions;
  readonly secure: boolean;

  constructor(o: ApiServerOptions) {
    this.engine = o.engine;
    this.log = o.log ?? (() => undefined);
    this.tokenDigest = createHash('sha256').update(o.token).digest();
    this.signingKey = createHash('sha256').update('cloudlet-download-signing\0').update(o.token).digest();
    this.secure = !!o.tls;
    this.sessions = new DashboardSessions(this.secure);
    this.checkAnswers = o.checkAnswers ?? process.env.CLOUDLET_CHECK_ANSWERS === '1';
    const handle = (req: http.IncomingMessage, res: http.ServerResponse) => void this.dispatch(req, res);
    this.server = o.tls ? https.createServer({ cert: o.tls.cert, key: o.tls.key }, handle) : http.createServer(handle);
    this.server.keepAliveTimeout = 30000;
    this.server.requestTimeout = 0; // uploads and archive downloads can be long; idle sockets still time out
    const handlers = this.handlers();
    for (const name of Object.keys(ROUTES) as RouteName[]) {
      const spec: RouteSpec = ROUTES[name];
      const re = new RegExp('^' + spec.path.replace(':id', '([^/]+)').replace(/\./g, '\\.') + '$');
      this.routes.push({ name, spec, re, handler: handlers[name] as CheckedHandler });
    }
  }

  /** The answer against the route's schema, and a succeeded operation's result against its kind's (CLOUDLET_CHECK_ANSWERS). */
  private checkAnswer(r: Route, answer: unknown): void {
    const plain: unknown = JSON.parse(JSON.stringify(answer));
    let problem = problemWith(r.spec.response!, plain);
    const op = plain as OperationRecord;
    if (problem === undefined && (r.name === 'operations.get' || r.name === 'operations.cancel') && op.state === 'succeeded') {
      const schema = (RESULTS as Record<string, TSchema | undefined>)[op.kind];
      problem = schema ? problemWith(schema, op.result, 'result') : `operation kind ${op.kind} has no result schema`;
    }
    if (problem !== undefined) throw new CloudletError('INTERNAL', `the answer of ${r.name} does not fit the API contract: ${problem}`);
  }

  /** Method and path of every route this server answers (the route-coverage test reads it). */
  get answered(): { method: string; path: string }[] {
    return this.routes.map((r) => ({ method: r.spec.method, path: r.spec.path }));
  }

  /** `unix:/path/to.sock`, `host:port` or `:port` (all interfaces). Resolves with the address served. */
  async listen(spec: string): Promise<string> {
    if (spec.startsWith('unix:')) {
      const p = spec.slice(5);
      if (Buffer.byteLength(p) > 107) throw new CloudletError('INVALID_ARGUMENT', `unix socket path is longer than 107 bytes: ${p}`);
      fs.rmSync(p, { force: true }); // left by an engine that died; we hold the state lock
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(p, () => resolve());
      });
      fs.chmodSync(p, 0o600);
      return `unix:${p}`;
    }
    const m = /^(.*):(\d+)$/.exec(spec);
    if (!m) throw new CloudletError('INVALID_ARGUMENT', `--listen: expected unix:PATH or HOST:PORT, got ${JSON.stringify(spec)}`);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(Number(m[2]), m[1] || undefined, () => resolve());
    });
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `${this.secure ? 'https' : 'http'}://${host}:${a.port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** The signature that makes an overlay download URL usable without the token. */
  signOverlay(id: string): string {
    return createHmac('sha256', this.signingKey).update(`overlay:${id}`).digest('hex');
  }

  /** The API token or, from a browser, a dashboard session (with its CSRF token when the request changes something). */
  private authorized(req: http.IncomingMessage): boolean {
    return this.tokenGiven(req) || this.sessions.allows(req);
  }

  private tokenGiven(req: http.IncomingMessage): boolean {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return m !== null && this.tokenMatches(m[1]);
  }

  private tokenMatches(token: string): boolean {
    return timingSafeEqual(createHash('sha256').update(token).digest(), this.tokenDigest);
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const t0 = Date.now();
    const url = new URL(req.url ?? '/', 'http://engine');
    res.on('finish', () => this.log(`${req.method} ${url.pathname} ${res.statusCode} ${Date.now() - t0}ms`));
    try {
      if (url.pathname === '/dashboard' || url.pathname.startsWith('/dashboard/')) return serveDashboard(req, res, url.pathname);
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
      const onPath = this.routes.map((r) => ({ r, m: r.re.exec(url.pathname) })).filter((x) => x.m !== null);
      const candidates = onPath.filter((x) => x.r.spec.method === method);
      // One method and path may carry JSON or raw bytes (overlays.import / overlays.upload): the media type picks.
      const type = req.headers['content-type'] ?? '';
      const hit = candidates.find((x) => x.r.spec.kind === 'upload' && type.startsWith(x.r.spec.media ?? '\0')) ?? candidates.find((x) => x.r.spec.kind !== 'upload');
      if (!hit) {
        if (!this.authorized(req)) throw new CloudletError('UNAUTHORIZED', 'unauthorized');
        throw onPath.length ? new CloudletError('INVALID_ARGUMENT', `${req.method} is not allowed on ${url.pathname}`) : new CloudletError('NOT_FOUND', `no such endpoint ${url.pathname}`);
      }
      const { r, m } = hit;
      const id = m![1] === undefined ? '' : decodeURIComponent(m![1]);
      if (!this.authorized(req) && !this.allowedBy(r.spec.access, req, id, url.searchParams.get('sig'))) throw new CloudletError('UNAUTHORIZED', 'unauthorized');
      const query = r.spec.query ? checkedQuery(r.spec.query, url.searchParams) : undefined;
      const body = r.spec.body ? checked(r.spec.body, await readJson(req)) : undefined;
      const client = String(req.headers[CLIENT_HEADER] ?? '').slice(0, 40) || undefined;
      const answer = await withClient(client, () => r.handler({ req, res, id, body, query }));
      if (r.spec.kind === 'download' || r.spec.kind === 'stream') return;
      if (this.checkAnswers && r.spec.response) this.checkAnswer(r, answer);
      send(res, r.spec.status, answer);
    } catch (e) {
      this.sendError(res, e);
    }
  }

  private allowedBy(access: Access | undefined, req: http.IncomingMessage, param: string | undefined, sig: string | null): boolean {
    if (access === 'public') return true;
    if (access === 'signed-overlay') return this.signatureOk(param, sig);
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer || !param) return false;
    if (access === 'handoff-instance') return this.engine.handoffTokenAllows(bearer, { instance: param });
    if (access === 'handoff-session') return this.engine.handoffTokenAllows(bearer, { handoff: param });
    return false;
  }

  private signatureOk(id: string | undefined, sig: string | null): boolean {
    if (!id || !sig || !/^[0-9a-f]{64}$/.test(sig)) return false;
    return timingSafeEqual(Buffer.from(this.signOverlay(id), 'hex'), Buffer.from(sig, 'hex'));
  }

  private sendError(res: http.ServerResponse, e: unknown): void {
    const err = e instanceof CloudletError ? e : new CloudletError('INTERNAL', (e as Error)?.message ?? String(e));
    if (err.code === 'INTERNAL') this.log(`internal error: ${(e as Error)?.stack ?? String(e)}`);
    if (res.headersSent) {
      res.destroy(err);
      return;
    }
    const status = errorInfo(err.code).status;
    const body = err.code === 'UNAUTHORIZED' ? { error: { code: 'UNAUTHORIZED', message: 'unauthorized' } } : { error: err.toJSON() };
    send(res, status, body);
  }

  /** Streams a handoff; a failure after the stream started is sent in-band as an error record. */
  private async streamHandoff(res: http.ServerResponse, id: string, req: { handoffId: string; destination?: string }): Promise<void> {
    const sink = responseSink(res, this.engine.settings.handoff.stallTimeoutMs);
    res.socket?.setNoDelay(true);
    res.writeHead(200, { 'content-type': 'application/x-cloudlet-handoff', 'cache-control': 'no-store' });
    try {
      await this.engine.handoffOut(id, req, sink);
      res.end();
    } catch (e) {
      const err = e instanceof CloudletError ? e : new CloudletError('INTERNAL', String((e as Error)?.message ?? e));
      if (!res.destroyed) res.end(Buffer.concat(errorRecord(err.toJSON())));
    }
  }

  private overlayView(o: OverlayRecord, req: http.IncomingMessage): OverlayViewRecord {
    const downloadPath = `${routePath('overlays.file', o.id)}?sig=${this.signOverlay(o.id)}`;
    const host = req.headers.host;
    const viaTcp = req.socket.remoteFamily !== undefined && host;
    return { ...o, downloadPath, downloadUrl: viaTcp ? `${this.secure ? 'https' : 'http'}://${host}${downloadPath}` : undefined };
  }

  /** Every route's handler: each calls one engine verb (a missing one fails type-checking). */
  private handlers(): Handlers {
    const e = this.engine;
    return {
      'engine.info': async () => e.info(),
      'engine.doctor': async () => e.doctor(),
      'engine.probe': async ({ body }) => e.probe(body.address, body.port, body.attempts),
      'engine.openapi': async () => openApiDocument(ENGINE_VERSION) as { openapi: string },

      'bases.list': async () => ({ bases: e.listBases() }),
      'bases.get': async ({ id }) => e.getBase(id),
      'bases.delete': async ({ id }) => {
        e.deleteBase(id);
        return { deleted: id };
      },
      'bases.import': async ({ body }) => {
        if ('source' in body) return { operation: e.importBase(body) };
        if ('disk' in body) return { operation: e.importBaseFromDisk(body) };
        return { operation: e.createBaseFromInstance(body) };
      },
      'bases.upload': async ({ req }) => ({ operation: await e.uploadBase(requestSource(req), undefined) }),
      'bases.archive': async ({ req, res, id }) => {
        const a = e.exportBase(id);
        res.writeHead(200, { 'content-type': 'application/x-tar', 'content-length': a.bytes, 'content-disposition': `attachment; filename="base-${id.slice(0, 12)}.tar"` });
        if (req.method === 'HEAD') return void res.end();
        await pipeline(Readable.from(a.stream), res);
      },

      'overlays.list': async ({ req }) => ({ overlays: e.listOverlays().map((o) => this.overlayView(o, req)) }),
      'overlays.get': async ({ req, id }) => this.overlayView(e.getOverlay(id), req),
      'overlays.delete': async ({ id }) => {
        e.deleteOverlay(id);
        return { deleted: id };
      },
      'overlays.import': async ({ body }) => ({ operation: 'url' in body ? e.importOverlay(body) : e.createOverlayFromInstance(body) }),
      'overlays.upload': async ({ req, query }) => this.overlayView(await e.storeOverlay(requestSource(req), 'upload', query.sha256), req),
      'overlays.file': async ({ req, res, id }) => serveFile(req, res, e.overlayPath(id), `"${id}"`),

      'instances.list': async () => ({ instances: await e.listInstances() }),
      'instances.create': async ({ body }) => ({ operation: await e.createInstance(body) }),
      'instances.get': async ({ id }) => e.getInstance(id),
      'instances.delete': async ({ id }) => {
        await e.deleteInstance(id);
        return { deleted: id };
      },
      'instances.power': async ({ id, body }) => e.setPowerState(id, body.state),
      'instances.exec': async ({ id, body }) => e.exec(id, body.command, body.timeoutSeconds),
      'instances.writeFile': async ({ id, body }) => e.writeGuestFile(id, body),
      'instances.readFile': async ({ id, query }) => e.readGuestFile(id, query.path),
      'instances.interfaces': async ({ id }) => e.guestInterfaces(id),
      // Handoff (engine/handoff/PROTOCOL.md). Source side: a token for one instance, what the destination
      // checks first, the stream itself, and the destination's confirmation.
      'instances.handoffToken': async ({ id, body }) => e.issueHandoffToken(id, body.ttlSeconds),
      'instances.handoffInfo': async ({ id }) => e.handoffInfo(id),
      'instances.handoffStream': async ({ res, id, body }) => this.streamHandoff(res, id, body),
      'handoffs.confirm': async ({ id }) => e.confirmHandoff(id),
      // Destination side: pull an instance from another cloudlet.
      'handoffs.create': async ({ body }) => ({ operation: e.handoffIn(body) }),

      'networks.list': async () => ({ networks: e.listNetworks() }),
      'networks.get': async ({ id }) => e.getNetwork(id),
      'networks.create': async ({ body }) => e.createNetwork(body),
      'networks.delete': async ({ id }) => {
        await e.deleteNetwork(id);
        return { deleted: id };
      },

      'peers.list': async () => ({ peers: e.listPeers() }),
      'peers.create': async ({ body }) => e.addPeer(body),
      'peers.delete': async ({ id }) => {
        e.deletePeer(id);
        return { deleted: id };
      },
      'instances.handoffTo': async ({ id, body }) => ({ operation: e.handoffTo(id, body) }),

      'dashboard.loginCode': async ({ req }) => {
        // Minted with the API token itself (the CLI's `cloudlet dashboard`), not by a browser session.
        if (!this.tokenGiven(req)) throw new CloudletError('UNAUTHORIZED', 'unauthorized');
        return this.sessions.issueCode();
      },
      'dashboard.login': async ({ res, body }) => {
        const ok = body.token !== undefined ? this.tokenMatches(body.token) : body.code !== undefined && this.sessions.redeemCode(body.code);
        if (!ok) throw new CloudletError('UNAUTHORIZED', 'unauthorized');
        return this.sessions.open(res);
      },
      'dashboard.session': async ({ req }) => this.sessions.current(req),
      'dashboard.logout': async ({ req, res }) => {
        this.sessions.close(req, res);
        return { deleted: 'session' };
      },

      'operations.list': async () => ({ operations: e.ops.list() }),
      'operations.get': async ({ id, query }) => {
        const live = e.ops.liveOp(id);
        if (live && query.wait) await live.wait(query.wait * 1000);
        const rec = e.ops.get(id);
        if (!rec) throw new CloudletError('NOT_FOUND', `no operation ${id}`);
        return rec;
      },
      'operations.cancel': async ({ id }) => e.cancelOperation(id),
    };
  }
}

/** The response as the handoff's stream sink: writes wait for the socket to drain, and fail once it closes. */
function responseSink(res: http.ServerResponse, stallMs: number): { write(parts: Buffer[]): Promise<void>; closed: Promise<void> } {
  let closed = false;
  const closedP = new Promise<void>((r) =>
    res.once('close', () => {
      closed = true;
      r();
    }),
  );
  const gone = () => new CloudletError('HANDOFF_FAILED', 'the destination went away (its connection closed)');
  return {
    closed: closedP,
    async write(parts: Buffer[]): Promise<void> {
      if (closed || res.destroyed) throw gone();
      let ok = true;
      for (const p of parts) ok = res.write(p) && ok;
      if (ok) return;
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => {
          cleanup();
          res.destroy();
          reject(new CloudletError('HANDOFF_FAILED', `the link to the destination stalled for ${stallMs / 1000} s`));
        }, stallMs);
        const onDrain = () => {
          cleanup();
          resolve();
        };
        const onClose = () => {
          cleanup();
          reject(gone());
        };
        const cleanup = () => {
          clearTimeout(t);
          res.off('drain', onDrain);
          res.off('close', onClose);
        };
        res.on('drain', onDrain);
        res.on('close', onClose);
      });
    },
  };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(res.req?.method === 'HEAD' ? undefined : text);
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_JSON) throw new CloudletError('INVALID_ARGUMENT', `request body larger than ${MAX_JSON} bytes`);
    parts.push(c as Buffer);
  }
  if (n === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch (e) {
    throw new CloudletError('INVALID_ARGUMENT', `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CloudletError('INVALID_ARGUMENT', 'request body must be a JSON object');
  return v as Record<string, unknown>;
}

function requestSource(req: http.IncomingMessage): ByteSource {
  const it = req[Symbol.asyncIterator]();
  return {
    async read() {
      const r = await it.next();
      return r.done ? null : (r.value as Buffer);
    },
  };
}

/** A file with Range support (one range), ETag and Content-Length. */
async function serveFile(req: http.IncomingMessage, res: http.ServerResponse, file: string, etag: string): Promise<void> {
  const size = fs.statSync(file).size;
  let start = 0;
  let end = size - 1;
  let status = 200;
  const range = req.headers.range;
  const ifRange = req.headers['if-range'];
  if (range && (!ifRange || ifRange === etag)) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    if (!m || (m[1] === '' && m[2] === '')) {
      res.writeHead(416, { 'content-range': `bytes */${size}` });
      return void res.end();
    }
    if (m[1] === '') {
      start = Math.max(0, size - Number(m[2]));
    } else {
      start = Number(m[1]);
      end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    }
    if (start >= size || start > end) {
      res.writeHead(416, { 'content-range': `bytes */${size}` });
      return void res.end();
    }
    status = 206;
  }
  if (req.headers['if-none-match'] === etag && status === 200) {
    res.writeHead(304, { etag });
    return void res.end();
  }
  const headers: http.OutgoingHttpHeaders = {
    'content-type': 'application/vnd.cloudlet.overlay',
    'content-length': end - start + 1,
    'accept-ranges': 'bytes',
    etag,
    'cache-control': 'public, max-age=31536000, immutable',
  };
  if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${size}`;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || size === 0) return void res.end();
  await pipeline(fs.createReadStream(file, { start, end, highWaterMark: 1 << 20 }), res);
}
