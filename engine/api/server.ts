// The engine's HTTP API (JSON over HTTP/1.1 on a unix socket or TCP, TLS when given a certificate). Every
// request carries `Authorization: Bearer <token>`, compared in constant time; the one exception is an
// overlay download URL signed for that overlay (`?sig=`), which is what lets another cloudlet or any HTTP
// client fetch an overlay without holding this engine's token. Errors are `{"error":{"code","message"}}`
// with the engine's error code; a 401 says nothing more than "unauthorized".

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { Engine } from '../core/engine';
import { CloudletError, errorInfo } from '../errors';
import { ByteSource } from '../io/io';
import { OverlayRecord } from '../store/store';
import { RecordType, jsonRecord } from '../handoff/wire';

const MAX_JSON = 1 << 20;

export interface ApiServerOptions {
  engine: Engine;
  token: string;
  tls?: { cert: string; key: string };
  log?: (line: string) => void;
}

/**
 * Who may call a route besides holders of the API token: anyone with the overlay's signed URL, or the
 * holder of a handoff token for the instance (or handoff) the path names.
 */
type Access = 'signed-overlay' | 'handoff-instance' | 'handoff-session';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, params: string[], query: URLSearchParams) => Promise<void>;

export class ApiServer {
  private readonly server: http.Server;
  private readonly routes: { method: string; re: RegExp; handler: Handler; open?: Access }[] = [];
  private readonly tokenDigest: Buffer;
  private readonly engine: Engine;
  private readonly log: (s: string) => void;
  private readonly signingKey: Buffer;
  readonly secure: boolean;

  constructor(o: ApiServerOptions) {
    this.engine = o.engine;
    this.log = o.log ?? (() => undefined);
    this.tokenDigest = createHash('sha256').update(o.token).digest();
    this.signingKey = createHash('sha256').update('cloudlet-download-signing\0').update(o.token).digest();
    this.secure = !!o.tls;
    const handle = (req: http.IncomingMessage, res: http.ServerResponse) => void this.dispatch(req, res);
    this.server = o.tls ? https.createServer({ cert: o.tls.cert, key: o.tls.key }, handle) : http.createServer(handle);
    this.server.keepAliveTimeout = 30000;
    this.server.requestTimeout = 0; // uploads and archive downloads can be long; idle sockets still time out
    this.defineRoutes();
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

  private authorized(req: http.IncomingMessage): boolean {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(h);
    if (!m) return false;
    const given = createHash('sha256').update(m[1]).digest();
    return timingSafeEqual(given, this.tokenDigest);
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const t0 = Date.now();
    const url = new URL(req.url ?? '/', 'http://engine');
    res.on('finish', () => this.log(`${req.method} ${url.pathname} ${res.statusCode} ${Date.now() - t0}ms`));
    try {
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
      let matched = false;
      for (const r of this.routes) {
        const m = r.re.exec(url.pathname);
        if (!m) continue;
        matched = true;
        if (r.method !== method) continue;
        const params = m.slice(1).map(decodeURIComponent);
        if (!this.authorized(req) && !this.allowedBy(r.open, req, params[0], url.searchParams.get('sig'))) {
          throw new CloudletError('UNAUTHORIZED', 'unauthorized');
        }
        await r.handler(req, res, params, url.searchParams);
        return;
      }
      if (!this.authorized(req)) throw new CloudletError('UNAUTHORIZED', 'unauthorized');
      throw matched ? new CloudletError('INVALID_ARGUMENT', `${req.method} is not allowed on ${url.pathname}`) : new CloudletError('NOT_FOUND', `no such endpoint ${url.pathname}`);
    } catch (e) {
      this.sendError(res, e);
    }
  }

  private allowedBy(access: Access | undefined, req: http.IncomingMessage, param: string | undefined, sig: string | null): boolean {
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

  private route(method: string, pattern: string, handler: Handler, open?: Access): void {
    const re = new RegExp('^' + pattern.replace(/:[a-z]+/g, '([^/]+)') + '$');
    this.routes.push({ method, re, handler, open });
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
      if (!res.destroyed) res.end(Buffer.concat(jsonRecord(RecordType.Error, err.toJSON())));
    }
  }

  private overlayView(o: OverlayRecord, req: http.IncomingMessage): OverlayRecord & { downloadPath: string; downloadUrl?: string } {
    const downloadPath = `/v1/overlays/${o.id}/file?sig=${this.signOverlay(o.id)}`;
    const host = req.headers.host;
    const viaTcp = req.socket.remoteFamily !== undefined && host;
    return { ...o, downloadPath, downloadUrl: viaTcp ? `${this.secure ? 'https' : 'http'}://${host}${downloadPath}` : undefined };
  }

  private defineRoutes(): void {
    const e = this.engine;
    this.route('GET', '/v1/info', async (_q, res) => send(res, 200, e.info()));

    this.route('GET', '/v1/bases', async (_q, res) => send(res, 200, { bases: e.listBases() }));
    this.route('GET', '/v1/bases/:id', async (_q, res, [id]) => send(res, 200, e.getBase(id)));
    this.route('DELETE', '/v1/bases/:id', async (_q, res, [id]) => {
      e.deleteBase(id);
      send(res, 200, { deleted: id });
    });
    this.route('POST', '/v1/bases', async (req, res) => {
      const b = await readJson(req);
      let op;
      if (b.source !== undefined) op = e.importBase({ source: str(b, 'source'), sha256: optStr(b, 'sha256'), name: optStr(b, 'name'), requestId: optStr(b, 'requestId') });
      else if (b.disk !== undefined)
        op = e.importBaseFromDisk({
          disk: str(b, 'disk'),
          name: str(b, 'name'),
          memoryMiB: optNum(b, 'memoryMiB'),
          vcpus: optNum(b, 'vcpus'),
          kernel: optStr(b, 'kernel'),
          initrd: optStr(b, 'initrd'),
          cmdline: optStr(b, 'cmdline'),
          ready: b.ready === undefined ? undefined : b.ready === 'agent' ? 'agent' : optNum(b, 'ready'),
          readyTimeoutSeconds: optNum(b, 'readyTimeoutSeconds'),
          requestId: optStr(b, 'requestId'),
        });
      else if (b.instanceId !== undefined) op = e.createBaseFromInstance({ instanceId: str(b, 'instanceId'), name: str(b, 'name'), requestId: optStr(b, 'requestId') });
      else throw new CloudletError('INVALID_ARGUMENT', 'give source (archive path or URL), disk (a disk image to boot) or instanceId (capture a running instance)');
      send(res, 202, { operation: op });
    });
    this.route('GET', '/v1/bases/:id/archive', async (req, res, [id]) => {
      const a = e.exportBase(id);
      res.writeHead(200, { 'content-type': 'application/x-tar', 'content-length': a.bytes, 'content-disposition': `attachment; filename="base-${id.slice(0, 12)}.tar"` });
      if (req.method === 'HEAD') return void res.end();
      await pipeline(Readable.from(a.stream), res);
    });

    this.route('GET', '/v1/overlays', async (req, res) => send(res, 200, { overlays: e.listOverlays().map((o) => this.overlayView(o, req)) }));
    this.route('GET', '/v1/overlays/:id', async (req, res, [id]) => send(res, 200, this.overlayView(e.getOverlay(id), req)));
    this.route('DELETE', '/v1/overlays/:id', async (_q, res, [id]) => {
      e.deleteOverlay(id);
      send(res, 200, { deleted: id });
    });
    this.route('POST', '/v1/overlays', async (req, res, _p, query) => {
      const type = req.headers['content-type'] ?? '';
      if (type.startsWith('application/octet-stream')) {
        const expect = query.get('sha256') ?? undefined;
        const rec = await e.storeOverlay(requestSource(req), 'upload', expect);
        send(res, 201, this.overlayView(rec, req));
        return;
      }
      const b = await readJson(req);
      const op =
        b.url !== undefined
          ? e.importOverlay({ url: str(b, 'url'), sha256: optStr(b, 'sha256'), requestId: optStr(b, 'requestId') })
          : e.createOverlayFromInstance({ instanceId: str(b, 'instanceId'), level: optNum(b, 'level'), requestId: optStr(b, 'requestId') });
      send(res, 202, { operation: op });
    });
    this.route('GET', '/v1/overlays/:id/file', async (req, res, [id]) => serveFile(req, res, e.overlayPath(id), `"${id}"`), 'signed-overlay');

    this.route('GET', '/v1/instances', async (_q, res) => send(res, 200, { instances: await e.listInstances() }));
    this.route('POST', '/v1/instances', async (req, res) => {
      const b = await readJson(req);
      const ov = b.overlay;
      if (ov !== undefined && (typeof ov !== 'object' || ov === null || Array.isArray(ov))) throw new CloudletError('INVALID_ARGUMENT', 'overlay: an object with id, url and/or sha256');
      const overlay = ov as Record<string, unknown> | undefined;
      const op = e.createInstance({
        name: str(b, 'name'),
        baseId: str(b, 'baseId'),
        overlay: overlay ? { id: optStr(overlay, 'id', 'overlay.'), url: optStr(overlay, 'url', 'overlay.'), sha256: optStr(overlay, 'sha256', 'overlay.') } : undefined,
        requestId: optStr(b, 'requestId'),
      });
      send(res, 202, { operation: op });
    });
    this.route('GET', '/v1/instances/:id', async (_q, res, [id]) => send(res, 200, await e.getInstance(id)));
    this.route('DELETE', '/v1/instances/:id', async (_q, res, [id]) => {
      await e.deleteInstance(id);
      send(res, 200, { deleted: id });
    });
    this.route('POST', '/v1/instances/:id/power', async (req, res, [id]) => {
      const b = await readJson(req);
      send(res, 200, await e.setPowerState(id, str(b, 'state') as 'running' | 'paused' | 'stopped'));
    });
    this.route('POST', '/v1/instances/:id/exec', async (req, res, [id]) => {
      const b = await readJson(req);
      send(res, 200, await e.exec(id, str(b, 'command'), optNum(b, 'timeoutSeconds')));
    });

    // Handoff (engine/handoff/PROTOCOL.md). Source side: a token for one instance, what the destination
    // checks first, the stream itself, and the destination's confirmation.
    this.route('POST', '/v1/instances/:id/handoff-token', async (req, res, [id]) => {
      const b = await readJson(req);
      send(res, 200, e.issueHandoffToken(id, optNum(b, 'ttlSeconds')));
    });
    this.route('GET', '/v1/instances/:id/handoff', async (_q, res, [id]) => send(res, 200, e.handoffInfo(id)), 'handoff-instance');
    this.route(
      'POST',
      '/v1/instances/:id/handoff/stream',
      async (req, res, [id]) => {
        const b = await readJson(req);
        await this.streamHandoff(res, id, { handoffId: str(b, 'handoffId'), destination: optStr(b, 'destination') });
      },
      'handoff-instance',
    );
    this.route('POST', '/v1/handoffs/:id/confirm', async (_q, res, [id]) => send(res, 200, await e.confirmHandoff(id)), 'handoff-session');
    // Destination side: pull an instance from another cloudlet.
    this.route('POST', '/v1/handoffs', async (req, res) => {
      const b = await readJson(req);
      const src = b.source as Record<string, unknown> | undefined;
      if (typeof src !== 'object' || src === null || Array.isArray(src)) throw new CloudletError('INVALID_ARGUMENT', 'source: { endpoint, token, ca? } of the cloudlet the instance runs on');
      const op = e.handoffIn({
        source: { endpoint: str(src, 'endpoint', 'source.'), token: str(src, 'token', 'source.'), ca: optStr(src, 'ca', 'source.') },
        instanceId: str(b, 'instanceId'),
        requestId: optStr(b, 'requestId'),
      });
      send(res, 202, { operation: op });
    });

    this.route('GET', '/v1/operations', async (_q, res) => send(res, 200, { operations: e.ops.list() }));
    this.route('GET', '/v1/operations/:id', async (_q, res, [id], query) => {
      const wait = Number(query.get('wait') ?? 0);
      if (!(wait >= 0 && wait <= 60)) throw new CloudletError('INVALID_ARGUMENT', 'wait: seconds from 0 to 60');
      const live = e.ops.liveOp(id);
      if (live && wait > 0) await live.wait(wait * 1000);
      const rec = e.ops.get(id);
      if (!rec) throw new CloudletError('NOT_FOUND', `no operation ${id}`);
      send(res, 200, rec);
    });
    this.route('DELETE', '/v1/operations/:id', async (_q, res, [id]) => send(res, 200, e.cancelOperation(id)));
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

function str(b: Record<string, unknown>, k: string, prefix = ''): string {
  const v = b[k];
  if (typeof v !== 'string' || v === '') throw new CloudletError('INVALID_ARGUMENT', `${prefix}${k}: required, a string`);
  return v;
}

function optStr(b: Record<string, unknown>, k: string, prefix = ''): string | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new CloudletError('INVALID_ARGUMENT', `${prefix}${k}: must be a string`);
  return v;
}

function optNum(b: Record<string, unknown>, k: string): number | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new CloudletError('INVALID_ARGUMENT', `${k}: must be a number`);
  return v;
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
