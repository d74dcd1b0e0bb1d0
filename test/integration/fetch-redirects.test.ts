// openSource() following redirects against real servers on 127.0.0.1: nginx (`return 30x` rules and a static
// file, started here with its own config in a temp dir), plain node http servers that record what each request
// carried, and a node https server with a self-signed certificate. Covers relative and absolute redirects, a
// chain, a loop, https→http refusal, credentials kept to the first origin, a redirect to a 404, per-hop timeouts,
// that neither a query string nor userinfo ever shows in an error message, and transfers that break off taken up
// with Range requests where nginx serves ranges (and refused when the file changed meanwhile).

import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent, Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { CloudletError } from '../../engine/errors';
import { MAX_REDIRECTS, MAX_RESUMES, OpenedSource, openSource, redirectTarget } from '../../engine/store/fetch';
import { CuttingRelay, Nginx } from '../helpers/nginx';

const payload = crypto.randomBytes(300 * 1024 + 17);

interface Seen {
  path: string;
  authorization?: string;
  cookie?: string;
  remotePort?: number;
}

/** A node server whose routes answer with a redirect, the payload, a stall or a 404, and which logs each request. */
class Origin {
  readonly seen: Seen[] = [];
  port = 0;
  private server: http.Server | https.Server;

  constructor(routes: (url: URL, res: http.ServerResponse) => boolean, tls?: { key: Buffer; cert: Buffer }) {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const url = new URL(req.url ?? '/', 'http://x');
      this.seen.push({ path: url.pathname, authorization: req.headers.authorization, cookie: req.headers.cookie, remotePort: req.socket.remotePort });
      if (routes(url, res)) return;
      if (url.pathname === '/file') {
        res.writeHead(200, { 'content-length': payload.length });
        res.end(payload);
        return;
      }
      res.writeHead(404).end('not here');
    };
    this.server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  }

  get base(): string {
    return `${this.server instanceof https.Server ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  paths(): string[] {
    return this.seen.map((s) => s.path);
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function redirect(res: http.ServerResponse, status: number, location: string | undefined, body = 'moved'): true {
  res.writeHead(status, location === undefined ? {} : { location });
  res.end(body);
  return true;
}

async function readAll(src: OpenedSource): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let b = await src.source.read(); b !== null; b = await src.source.read()) parts.push(Buffer.from(b));
  src.close();
  return Buffer.concat(parts);
}

/** The CloudletError openSource rejects with (the test fails if it resolves or throws anything else). */
async function failure(location: string, o: Parameters<typeof openSource>[1] = {}): Promise<CloudletError> {
  let opened: OpenedSource | undefined;
  try {
    opened = await openSource(location, o);
  } catch (e) {
    if (e instanceof CloudletError) return e;
    throw e;
  }
  opened.close();
  throw new Error(`${location} opened, expected a failure`);
}

let work = '';
let nginx: Nginx | undefined;
let ng = '';
let a: Origin;
let b: Origin;
let secure: Origin;
let previousDispatcher: Dispatcher;
let agent: Agent;

async function startNginx(): Promise<void> {
  const dir = path.join(work, 'nginx');
  fs.mkdirSync(dir);
  nginx = await Nginx.start(dir, {
    // Locations as written (absolute_redirect off), so /rel really is a relative redirect.
    locations: `
    location = /rel { return 302 /real/file.bin; }
    location = /chain1 { return 302 /chain2; }
    location = /chain2 { return 307 /chain3; }
    location = /chain3 { return 301 /real/file.bin; }
    location = /loop { return 302 /loop; }
    location = /to-missing { return 302 /real/missing.bin; }
    location = /abs301 { return 301 ${b.base}/file; }
    location = /abs303 { return 303 ${b.base}/file; }
    location = /abs307 { return 307 ${b.base}/file; }
    location = /abs308 { return 308 ${b.base}/file; }`,
  });
  nginx.serve('real/file.bin', payload);
  ng = nginx.base;
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cle-redirects-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      path.join(work, 'key.pem'),
      '-out',
      path.join(work, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const key = fs.readFileSync(path.join(work, 'key.pem'));
  const cert = fs.readFileSync(path.join(work, 'cert.pem'));
  // openSource has no CA option; it uses undici's global dispatcher, so trust the test certificate there. One
  // connection per origin: a redirect body left unread would hold it, and the next same-origin hop would stall.
  previousDispatcher = getGlobalDispatcher();
  agent = new Agent({ connect: { ca: cert }, connections: 1 });
  setGlobalDispatcher(agent);

  b = new Origin((url) => {
    if (url.pathname === '/stall') return true; // never answers
    return false;
  });
  await b.start();
  a = new Origin((url, res) => {
    if (url.pathname === '/cross') return redirect(res, 302, `${b.base}/file`);
    if (url.pathname === '/same') return redirect(res, 302, '/file');
    if (url.pathname === '/big-body') return redirect(res, 302, '/file', 'x'.repeat(1 << 20));
    if (url.pathname === '/no-location') return redirect(res, 302, undefined);
    if (url.pathname === '/to-ftp') return redirect(res, 302, 'ftp://127.0.0.1/file');
    if (url.pathname === '/signed') return redirect(res, 302, `${ng}/real/missing.bin?X-Amz-Signature=sekrit2`);
    if (url.pathname === '/to-stall') return redirect(res, 302, `${b.base}/stall`);
    return false;
  });
  await a.start();
  secure = new Origin(
    (url, res) => {
      if (url.pathname === '/down') return redirect(res, 302, `${a.base}/file?sig=down-sekrit`);
      if (url.pathname === '/up') return redirect(res, 308, '/file');
      return false;
    },
    { key, cert },
  );
  await secure.start();
  await startNginx();
});

afterAll(async () => {
  await nginx?.stop();
  await Promise.all([a, b, secure].filter((s) => s !== undefined).map((s) => s.stop()));
  if (agent) {
    setGlobalDispatcher(previousDispatcher);
    await agent.destroy();
  }
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** nginx's access log as "URI STATUS" lines. */
const accessText = () =>
  nginx!
    .access()
    .map((l) => `${l.uri} ${l.status}`)
    .join('\n');

describe('redirects followed', () => {
  test('a 302 with a relative Location (nginx) is followed and the bytes equal the file', async () => {
    const src = await openSource(`${ng}/rel`);
    expect(accessText()).toMatch(/^\/rel 302$/m);
    expect(src.total).toBe(payload.length);
    const got = await readAll(src);
    expect(got.equals(payload)).toBe(true);
    expect(accessText()).toMatch(/^\/rel 302\n\/real\/file\.bin 200$/m);
  });

  test.each([301, 303, 307, 308])('a %d with an absolute Location to another port is followed', async (status) => {
    const before = b.seen.length;
    const src = await openSource(`${ng}/abs${status}`);
    expect(src.total).toBe(payload.length);
    expect((await readAll(src)).equals(payload)).toBe(true);
    expect(b.paths().slice(before)).toEqual(['/file']);
  });

  test('a chain of 3 redirects (302, 307, 301) is followed', async () => {
    const src = await openSource(`${ng}/chain1`);
    expect((await readAll(src)).equals(payload)).toBe(true);
    expect(accessText()).toMatch(/^\/chain1 302\n\/chain2 307\n\/chain3 301\n\/real\/file\.bin 200$/m);
  });

  test('https to https is followed (the test CA works, so the refusal below is not a TLS failure)', async () => {
    const src = await openSource(`${secure.base}/up`);
    expect((await readAll(src)).equals(payload)).toBe(true);
    expect(secure.paths().slice(-2)).toEqual(['/up', '/file']);
  });

  test('a same-origin hop after a small redirect body reuses the one connection', async () => {
    const before = a.seen.length;
    const src = await openSource(`${a.base}/same`, { timeoutMs: 2000 });
    expect((await readAll(src)).equals(payload)).toBe(true);
    const hops = a.seen.slice(before);
    expect(hops.map((s) => s.path)).toEqual(['/same', '/file']);
    expect(hops[1].remotePort).toBe(hops[0].remotePort);
  }, 10000);

  test('a large redirect body is released, so the same-origin hop still gets the one connection', async () => {
    // A body too large for undici to buffer, left unread, holds the connection; the queued hop then waits forever
    // (timeoutMs only starts once a request is sent), hence the test's own timeout.
    const src = await openSource(`${a.base}/big-body`, { timeoutMs: 2000 });
    expect((await readAll(src)).equals(payload)).toBe(true);
  }, 10000);
});

describe('redirects refused', () => {
  test(`a loop fails after ${MAX_REDIRECTS} hops with "too many redirects"`, async () => {
    const err = await failure(`${ng}/loop?token=loop-sekrit`);
    expect(err.code).toBe('DOWNLOAD_FAILED');
    expect(err.message).toBe(`too many redirects (${MAX_REDIRECTS}) from ${ng}/loop?…`);
    expect(nginx!.access().filter((l) => l.uri.startsWith('/loop'))).toHaveLength(MAX_REDIRECTS + 1);
  });

  test('https to http is refused, naming both redacted URLs, and the http URL is never requested', async () => {
    const before = a.seen.length;
    const err = await failure(`${secure.base}/down?sig=first-sekrit`);
    expect(err.code).toBe('DOWNLOAD_FAILED');
    expect(err.message).toBe(`refuses a redirect from https to http (${secure.base}/down?… → ${a.base}/file?…)`);
    expect(a.seen.length).toBe(before);
  });

  test('a redirect without a Location is DOWNLOAD_FAILED naming the status', async () => {
    const err = await failure(`${a.base}/no-location`);
    expect(err.code).toBe('DOWNLOAD_FAILED');
    expect(err.message).toBe(`${a.base}/no-location: HTTP 302 redirect without a Location header`);
  });

  test('a redirect to a scheme other than http(s) is refused', async () => {
    const err = await failure(`${a.base}/to-ftp`);
    expect(err.code).toBe('DOWNLOAD_FAILED');
    expect(err.message).toContain('refuses a redirect to a ftp: URL');
  });

  test('a redirect to a 404 is DOWNLOAD_FAILED: HTTP 404', async () => {
    const err = await failure(`${ng}/to-missing`);
    expect(err.code).toBe('DOWNLOAD_FAILED');
    expect(err.message).toBe(`${ng}/real/missing.bin: HTTP 404`);
  });

  test('query strings and userinfo never appear in error messages', async () => {
    const err = await failure(`http://u:pw-sekrit@127.0.0.1:${a.port}/signed?X-Amz-Signature=sekrit1`);
    expect(err.code).toBe('DOWNLOAD_FAILED');
    expect(err.message).toContain('HTTP 404');
    expect(err.message).not.toMatch(/sekrit|X-Amz|pw-|u:/);
  });

  test('the header timeout applies to each hop', async () => {
    const t0 = Date.now();
    const err = await failure(`${a.base}/to-stall`, { timeoutMs: 300 });
    expect(err.code).toBe('DOWNLOAD_FAILED');
    expect(err.message).toBe(`${b.base}/stall: timed out waiting for the response`);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  test('the AbortSignal applies to each hop', async () => {
    const before = b.seen.length;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const err = await failure(`${a.base}/to-stall`, { signal: ac.signal, timeoutMs: 10000 });
    expect(err.code).toBe('CANCELLED');
    expect(b.paths().slice(before)).toEqual(['/stall']);
  });
});

describe('credentials stay with the first origin', () => {
  test('URL userinfo goes to the first origin as Basic auth, not across a redirect to another port', async () => {
    const [aBefore, bBefore] = [a.seen.length, b.seen.length];
    const src = await openSource(`http://alice:s%3Acret@127.0.0.1:${a.port}/cross`);
    expect((await readAll(src)).equals(payload)).toBe(true);
    expect(a.seen.slice(aBefore).map((s) => [s.path, s.authorization])).toEqual([['/cross', `Basic ${Buffer.from('alice:s:cret').toString('base64')}`]]);
    expect(b.seen.slice(bBefore).map((s) => [s.path, s.authorization])).toEqual([['/file', undefined]]);
  });

  test('Authorization and Cookie headers are dropped on a cross-origin hop and kept on a same-origin one', async () => {
    const headers = { Authorization: 'Bearer tok', Cookie: 'session=1' };
    const [aBefore, bBefore] = [a.seen.length, b.seen.length];
    await readAll(await openSource(`${a.base}/cross`, { headers }));
    expect(a.seen.slice(aBefore).map((s) => [s.path, s.authorization, s.cookie])).toEqual([['/cross', 'Bearer tok', 'session=1']]);
    expect(b.seen.slice(bBefore).map((s) => [s.path, s.authorization, s.cookie])).toEqual([['/file', undefined, undefined]]);

    const again = a.seen.length;
    await readAll(await openSource(`${a.base}/same`, { headers }));
    expect(a.seen.slice(again).map((s) => [s.path, s.authorization, s.cookie])).toEqual([
      ['/same', 'Bearer tok', 'session=1'],
      ['/file', 'Bearer tok', 'session=1'],
    ]);
  });
});

describe('redirectTarget', () => {
  const from = new URL('https://store.example:8443/a/b?sig=1');

  test('resolves relative Locations and drops userinfo and fragments', () => {
    expect(redirectTarget(from, 302, '../c?x=2#frag').href).toBe('https://store.example:8443/c?x=2');
    expect(redirectTarget(from, 301, '//cdn.example/d').href).toBe('https://cdn.example/d');
    expect(redirectTarget(from, 307, 'https://u:p@cdn.example/e').href).toBe('https://cdn.example/e');
    expect(redirectTarget(new URL('http://h/x'), 308, 'https://h/y').href).toBe('https://h/y');
  });

  test.each([
    ['http://cdn.example/x?sig=2', /refuses a redirect from https to http \(https:\/\/store\.example:8443\/a\/b\?… → http:\/\/cdn\.example\/x\?…\)/],
    ['file:///etc/passwd', /refuses a redirect to a file: URL/],
    ['javascript:alert(1)', /refuses a redirect to a javascript: URL/],
    ['', /HTTP 302 redirect without a Location header/],
  ])('refuses %j', (location, message) => {
    let err: unknown;
    try {
      redirectTarget(from, 302, location);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CloudletError);
    expect((err as CloudletError).code).toBe('DOWNLOAD_FAILED');
    expect((err as CloudletError).message).toMatch(message);
    expect((err as CloudletError).message).not.toContain('sig=');
  });
});

describe('a transfer that breaks off is taken up with a Range request', () => {
  const big = crypto.randomBytes(3 << 20);
  const relayTo = async (cuts: number, onCut?: () => void) => {
    const relay = new CuttingRelay({ host: '127.0.0.1', port: nginx!.port }, 700 * 1024, cuts, onCut);
    return { relay, base: await relay.start() };
  };

  test('nginx answers the rest with 206 from the byte where it stopped; the bytes equal the file', async () => {
    nginx!.serve('ranged/big.bin', big);
    const { relay, base } = await relayTo(2);
    const got = await readAll(await openSource(`${base}/ranged/big.bin`));
    await relay.stop();
    expect(relay.cut).toBe(2);
    expect(got.equals(big)).toBe(true);
    const lines = nginx!.access().filter((l) => l.uri === '/ranged/big.bin');
    expect(lines[0]).toMatchObject({ status: 200, range: '' });
    expect(lines.slice(1).map((l) => l.status)).toEqual([206, 206]);
    // Each Range starts where the bytes that reached us stopped (the relay cut at 700 KiB of the answer, headers included).
    const starts = lines.slice(1).map((l) => Number(/^bytes=(\d+)-$/.exec(l.range)?.[1]));
    expect(starts[0]).toBeGreaterThan(600 * 1024);
    expect(starts[1]).toBeGreaterThan(starts[0]);
  });

  test('the file changed on the server meanwhile: If-Range brings the whole new file, and the download fails saying so', async () => {
    nginx!.serve('ranged/changing.bin', big);
    const file = path.join(nginx!.www, 'ranged', 'changing.bin');
    const { relay, base } = await relayTo(1, () => {
      fs.writeFileSync(file, crypto.randomBytes(big.length));
      fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    });
    const src = await openSource(`${base}/ranged/changing.bin`);
    await expect(readAll(src)).rejects.toThrow(/changing\.bin: the transfer (broke off|ended) after \d+ .*could not be taken up at byte \d+: the file changed on the server/);
    await relay.stop();
  });

  test(`a server that breaks off every time: the download fails after ${MAX_RESUMES} attempts to take it up`, async () => {
    // Long enough that the cuts come before the end: 700 KiB per connection, 12 MiB in all.
    nginx!.serve('ranged/flaky.bin', Buffer.concat([big, big, big, big]));
    const { relay, base } = await relayTo(100);
    try {
      const src = await openSource(`${base}/ranged/flaky.bin`);
      await expect(readAll(src)).rejects.toThrow(/flaky\.bin: the transfer (broke off|ended) after \d+/);
    } finally {
      await relay.stop();
    }
    expect(relay.cut).toBe(MAX_RESUMES + 1);
  });
});
