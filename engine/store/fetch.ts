// Sources of bytes for imports and synthesis: a local file or an http(s) URL fetched with undici, exposed as a
// ByteSource so consumers parse while the download is still running. Redirects are followed as `curl -L` does,
// bounded and without carrying credentials to another origin. An error status, a refused redirect, a
// connect/header/body timeout or a connection that breaks off is a DOWNLOAD_FAILED error naming the URL (never its
// query string, which may carry a signature), unless the server serves byte ranges: then a transfer that breaks
// off is taken up at the byte where it stopped (up to MAX_RESUMES times).

import * as fs from 'node:fs';
import { Dispatcher, request } from 'undici';
import { CloudletError, ioError } from '../errors';
import { ByteSource } from '../io/io';

export interface OpenedSource {
  source: ByteSource;
  /** Declared length, when known. */
  total?: number;
  /** Bytes handed out so far. */
  readonly received: number;
  /** Stops the transfer and releases the connection. */
  close(): void;
}

export interface FetchOptions {
  signal?: AbortSignal;
  /** Time allowed for the response headers and for any pause in the body (default 30 s). */
  timeoutMs?: number;
  /** Extra request headers. `authorization` and `cookie` are sent to the first origin only, as is URL userinfo. */
  headers?: Record<string, string>;
}

/** Redirect hops followed before giving up (curl's default is 50; a store or CDN needs one or two). */
export const MAX_REDIRECTS = 10;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Headers that identify the caller to one origin and must not follow a redirect to another. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie']);

export function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    url.username = '';
    url.password = '';
    return `${url.origin}${url.pathname}${url.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

export function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** Opens a path, a file:// URL or an http(s) URL for sequential reading. */
export async function openSource(location: string, o: FetchOptions = {}): Promise<OpenedSource> {
  if (isUrl(location)) return openHttp(location, o);
  const file = location.startsWith('file://') ? new URL(location).pathname : location;
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (e) {
    throw ioError('cannot open', file, e);
  }
  const size = (await fh.stat()).size;
  let received = 0;
  let closed = false;
  return {
    total: size,
    get received() {
      return received;
    },
    close() {
      if (!closed) {
        closed = true;
        void fh.close().catch(() => undefined);
      }
    },
    source: {
      async readInto(buf: Buffer, offset: number, max: number) {
        if (o.signal?.aborted) throw new CloudletError('CANCELLED', 'cancelled');
        if (closed) return 0;
        const { bytesRead } = await fh.read(buf, offset, Math.min(max, 8 << 20), received);
        received += bytesRead;
        return bytesRead;
      },
      async read() {
        if (closed) return null;
        const b = Buffer.allocUnsafe(4 << 20);
        const { bytesRead } = await fh.read(b, 0, b.length, received);
        received += bytesRead;
        return bytesRead === 0 ? null : b.subarray(0, bytesRead);
      },
    },
  };
}

/**
 * Where a redirect response leads: its Location resolved against the current URL. Throws DOWNLOAD_FAILED for a
 * redirect without a usable Location, to a scheme other than http(s), or from https down to http (which would
 * expose a signed URL and the body to anyone on the path).
 */
export function redirectTarget(from: URL, status: number, location: string | undefined): URL {
  const shown = redactUrl(from.href);
  if (!location) throw new CloudletError('DOWNLOAD_FAILED', `${shown}: HTTP ${status} redirect without a Location header`);
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    throw new CloudletError('DOWNLOAD_FAILED', `${shown}: HTTP ${status} redirect to an invalid Location`);
  }
  if (to.protocol !== 'http:' && to.protocol !== 'https:') {
    throw new CloudletError('DOWNLOAD_FAILED', `${shown}: refuses a redirect to a ${to.protocol} URL`);
  }
  if (from.protocol === 'https:' && to.protocol === 'http:') {
    throw new CloudletError('DOWNLOAD_FAILED', `refuses a redirect from https to http (${shown} → ${redactUrl(to.href)})`);
  }
  // userinfo offered by a server is not ours to use.
  return bare(to);
}

/** The URL as requested: no fragment (never sent) and no userinfo (credentials travel as a header). */
function bare(u: URL): URL {
  const b = new URL(u.href);
  b.hash = '';
  b.username = '';
  b.password = '';
  return b;
}

/** The request headers for the first hop: the caller's, plus Basic credentials from the URL's userinfo. */
function initialHeaders(url: URL, extra: Record<string, string> = {}): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(extra)) headers[k.toLowerCase()] = v;
  // undici drops userinfo; send it as curl does, unless the caller already chose an Authorization header.
  if ((url.username || url.password) && headers.authorization === undefined) {
    const user = `${decodeUserinfo(url.username)}:${decodeUserinfo(url.password)}`;
    headers.authorization = `Basic ${Buffer.from(user).toString('base64')}`;
  }
  return headers;
}

function decodeUserinfo(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a stray '%' the URL parser let through is meant literally
  }
}

function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !CREDENTIAL_HEADERS.has(k)));
}

async function openHttp(url: string, o: FetchOptions): Promise<OpenedSource> {
  let first: URL;
  try {
    first = new URL(url);
  } catch {
    throw new CloudletError('DOWNLOAD_FAILED', `${redactUrl(url)}: not a valid URL`);
  }
  const timeout = o.timeoutMs ?? 30000;
  let headers = initialHeaders(first, o.headers);
  let current = bare(first);
  let shown = redactUrl(current.href);
  let res: Dispatcher.ResponseData;
  for (let hops = 0; ; hops++) {
    try {
      res = await request(current, {
        method: 'GET',
        headers,
        signal: o.signal,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
    } catch (e) {
      if (o.signal?.aborted) throw new CloudletError('CANCELLED', 'cancelled');
      throw new CloudletError('DOWNLOAD_FAILED', `${shown}: ${describe(e)}`, e);
    }
    // A destroyed body emits 'error' (RequestAbortedError); nobody else listens once we let go of it.
    res.body.on('error', () => undefined);
    if (!REDIRECT_STATUSES.has(res.statusCode)) break;
    // Read off a small redirect body so the connection goes back to the pool; a large one is destroyed instead.
    try {
      await res.body.dump({ signal: o.signal, limit: 64 << 10 });
    } catch {
      res.body.destroy();
      if (o.signal?.aborted) throw new CloudletError('CANCELLED', 'cancelled');
    }
    if (hops === MAX_REDIRECTS) {
      throw new CloudletError('DOWNLOAD_FAILED', `too many redirects (${MAX_REDIRECTS}) from ${redactUrl(first.href)}`);
    }
    const location = res.headers.location;
    const next = redirectTarget(current, res.statusCode, Array.isArray(location) ? location[0] : location);
    // Once the transfer leaves the first origin it stays anonymous, even if a later hop comes back.
    if (next.origin !== current.origin) headers = withoutCredentials(headers);
    current = next;
    shown = redactUrl(current.href);
  }
  if (res.statusCode < 200 || res.statusCode > 299) {
    res.body.destroy();
    throw new CloudletError('DOWNLOAD_FAILED', `${shown}: HTTP ${res.statusCode}`);
  }
  const len = Number(res.headers['content-length']);
  const total = Number.isSafeInteger(len) && len >= 0 ? len : undefined;
  // A transfer that breaks off is taken up where it stopped (RFC 9110 Range + If-Range) when the server said it
  // serves byte ranges of this exact representation (Accept-Ranges: bytes and a strong ETag or a Last-Modified).
  const header = (r: Dispatcher.ResponseData, k: string) => {
    const v = r.headers[k];
    return Array.isArray(v) ? v[0] : v;
  };
  const etag = header(res, 'etag');
  const validator = etag && !etag.startsWith('W/') ? etag : header(res, 'last-modified');
  const resumable = total !== undefined && header(res, 'accept-ranges') === 'bytes' && validator !== undefined;
  let body = res.body;
  let it = body[Symbol.asyncIterator]();
  let received = 0;
  let resumes = 0;
  let closed = false;
  const resume = async (why: string): Promise<void> => {
    resumes++;
    body.destroy(); // its connection goes back first (a pool of one would otherwise wait on it)
    let r: Dispatcher.ResponseData;
    try {
      r = await request(current, { method: 'GET', headers: { ...headers, range: `bytes=${received}-`, 'if-range': validator! }, signal: o.signal, headersTimeout: timeout, bodyTimeout: timeout });
    } catch (e) {
      if (o.signal?.aborted) throw new CloudletError('CANCELLED', 'cancelled');
      throw new CloudletError('DOWNLOAD_FAILED', `${shown}: ${why}, and taking it up again failed (${describe(e)})`, e);
    }
    r.body.on('error', () => undefined);
    const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header(r, 'content-range') ?? '');
    if (r.statusCode !== 206 || !range || Number(range[1]) !== received || Number(range[3]) !== total) {
      r.body.destroy();
      const changed = r.statusCode === 200 ? 'the file changed on the server' : `HTTP ${r.statusCode} ${header(r, 'content-range') ?? ''}`.trim();
      throw new CloudletError('DOWNLOAD_FAILED', `${shown}: ${why}, and could not be taken up at byte ${received}: ${changed}`);
    }
    body = r.body;
    it = body[Symbol.asyncIterator]();
  };
  return {
    total,
    get received() {
      return received;
    },
    close() {
      if (!closed) {
        closed = true;
        body.destroy();
      }
    },
    source: {
      async read() {
        for (;;) {
          if (closed) return null;
          let r: IteratorResult<Buffer>;
          let broke: string | undefined;
          try {
            r = (await it.next()) as IteratorResult<Buffer>;
          } catch (e) {
            if (o.signal?.aborted) throw new CloudletError('CANCELLED', 'cancelled');
            broke = `the transfer broke off after ${received} bytes (${describe(e)})`;
            if (!resumable || resumes >= MAX_RESUMES) throw new CloudletError('DOWNLOAD_FAILED', `${shown}: ${broke}`, e);
            r = { done: true, value: undefined };
          }
          if (r.done) {
            if (total === undefined || received >= total) return null;
            broke ??= `the transfer ended after ${received} of ${total} bytes`;
            if (!resumable || resumes >= MAX_RESUMES) throw new CloudletError('DOWNLOAD_FAILED', `${shown}: ${broke}`);
            await resume(broke);
            continue;
          }
          if (total !== undefined && received + r.value.length > total) throw new CloudletError('DOWNLOAD_FAILED', `${shown}: the server sent more than the ${total} bytes it declared`);
          received += r.value.length;
          return r.value;
        }
      },
    },
  };
}

/** Times a broken transfer is taken up again before the download fails. */
export const MAX_RESUMES = 5;

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err?.code ?? err?.cause?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return 'timed out waiting for the response';
  if (code === 'UND_ERR_BODY_TIMEOUT') return 'timed out waiting for data';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND') return 'host not found';
  if (code === 'UND_ERR_SOCKET') return 'the connection was closed';
  return err?.cause?.message ?? err?.message ?? String(e);
}
