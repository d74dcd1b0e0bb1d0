// Sources of bytes for imports and synthesis: a local file or an http(s) URL fetched with undici, exposed as a
// ByteSource so consumers parse while the download is still running. An error status, a connect/header/body
// timeout or a connection that breaks off is a DOWNLOAD_FAILED error naming the URL (never its query string,
// which may carry a signature).

import * as fs from 'node:fs';
import { Dispatcher, request } from 'undici';
import { CloudletError, ioError } from '../errors';
import { ByteSource } from '../overlay/io';

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
}

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

async function openHttp(url: string, o: FetchOptions): Promise<OpenedSource> {
  const shown = redactUrl(url);
  const timeout = o.timeoutMs ?? 30000;
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method: 'GET',
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
  if (res.statusCode < 200 || res.statusCode > 299) {
    res.body.destroy();
    throw new CloudletError('DOWNLOAD_FAILED', `${shown}: HTTP ${res.statusCode}`);
  }
  const len = Number(res.headers['content-length']);
  const total = Number.isSafeInteger(len) && len >= 0 ? len : undefined;
  const it = res.body[Symbol.asyncIterator]();
  let received = 0;
  let closed = false;
  return {
    total,
    get received() {
      return received;
    },
    close() {
      if (!closed) {
        closed = true;
        res.body.destroy();
      }
    },
    source: {
      async read() {
        if (closed) return null;
        let r: IteratorResult<Buffer>;
        try {
          r = (await it.next()) as IteratorResult<Buffer>;
        } catch (e) {
          if (o.signal?.aborted) throw new CloudletError('CANCELLED', 'cancelled');
          throw new CloudletError('DOWNLOAD_FAILED', `${shown}: the transfer broke off after ${received} bytes (${describe(e)})`, e);
        }
        if (r.done) {
          if (total !== undefined && received < total) throw new CloudletError('DOWNLOAD_FAILED', `${shown}: the transfer ended after ${received} of ${total} bytes`);
          return null;
        }
        received += r.value.length;
        return r.value;
      },
    },
  };
}

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
