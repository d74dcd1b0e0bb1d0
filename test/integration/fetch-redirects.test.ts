// openSource() following redirects against real servers on 127.0.0.1: nginx (`return 30x` rules and a static
// file, started here with its own config in a temp dir), plain node http servers that record what each request
// carried, and a node https server with a self-signed certificate. Covers relative and absolute redirects, a
// chain, a loop, https→http refusal, credentials kept to the first origin, a redirect to a 404, per-hop timeouts,
// and that neither a query string nor userinfo ever shows in an error message.

import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Agent, Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { CloudletError } from '../../engine/errors';
import { MAX_REDIRECTS, OpenedSource, openSource, redirectTarget } from '../../engine/store/fetch';

const NGINX = '/usr/sbin/nginx';
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

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
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
let nginx: ChildProcess | undefined;
let nginxExit: Promise<void> = Promise.resolve();
let ng = '';
let a: Origin;
let b: Origin;
let secure: Origin;
let previousDispatcher: Dispatcher;
let agent: Agent;

async function startNginx(): Promise<void> {
  if (!fs.existsSync(NGINX)) throw new Error(`${NGINX} is not installed: run engine/host/setup-host.sh (it installs nginx-light)`);
  const www = path.join(work, 'www');
  fs.mkdirSync(path.join(www, 'real'), { recursive: true });
  fs.writeFileSync(path.join(www, 'real', 'file.bin'), payload);
  // nginx's workers run as an unprivileged user; they must be able to read the static file.
  for (const d of [work, www, path.join(www, 'real')]) fs.chmodSync(d, 0o755);
  fs.chmodSync(path.join(www, 'real', 'file.bin'), 0o644);
  const port = await freePort();
  ng = `http://127.0.0.1:${port}`;
  const conf = path.join(work, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes 1;
pid ${work}/nginx.pid;
error_log ${work}/error.log info;
events { worker_connections 64; }
http {
  access_log ${work}/access.log;
  client_body_temp_path ${work}/client_body;
  proxy_temp_path ${work}/proxy;
  fastcgi_temp_path ${work}/fastcgi;
  uwsgi_temp_path ${work}/uwsgi;
  scgi_temp_path ${work}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${www};
    # Send Locations as written, so /rel really is a relative redirect.
    absolute_redirect off;
    location = /rel { return 302 /real/file.bin; }
    location = /chain1 { return 302 /chain2; }
    location = /chain2 { return 307 /chain3; }
    location = /chain3 { return 301 /real/file.bin; }
    location = /loop { return 302 /loop; }
    location = /to-missing { return 302 /real/missing.bin; }
    location = /abs301 { return 301 ${b.base}/file; }
    location = /abs303 { return 303 ${b.base}/file; }
    location = /abs307 { return 307 ${b.base}/file; }
    location = /abs308 { return 308 ${b.base}/file; }
  }
}
`,
  );
  const child = spawn(NGINX, ['-c', conf, '-p', `${work}/`, '-e', `${work}/error.log`], { stdio: ['ignore', 'ignore', 'pipe'] });
  nginx = child;
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  nginxExit = new Promise((resolve) => child.once('exit', () => resolve()));
  for (const deadline = Date.now() + 10000; ;) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
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
  if (nginx && nginx.exitCode === null) {
    nginx.kill('SIGTERM');
    await nginxExit;
  }
  await Promise.all([a, b, secure].filter((s) => s !== undefined).map((s) => s.stop()));
  if (agent) {
    setGlobalDispatcher(previousDispatcher);
    await agent.destroy();
  }
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('redirects followed', () => {
  test('a 302 with a relative Location (nginx) is followed and the bytes equal the file', async () => {
    const src = await openSource(`${ng}/rel`);
    expect(fs.readFileSync(path.join(work, 'access.log'), 'utf8')).toMatch(/"GET \/rel HTTP[^"]*" 302/);
    expect(src.total).toBe(payload.length);
    const got = await readAll(src);
    expect(got.equals(payload)).toBe(true);
    expect(fs.readFileSync(path.join(work, 'access.log'), 'utf8')).toMatch(/"GET \/rel HTTP[^"]*" 302[\s\S]*"GET \/real\/file\.bin HTTP[^"]*" 200/);
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
    const log = fs.readFileSync(path.join(work, 'access.log'), 'utf8');
    expect(log).toMatch(/GET \/chain1 [^"]*" 302[\s\S]*GET \/chain2 [^"]*" 307[\s\S]*GET \/chain3 [^"]*" 301[\s\S]*GET \/real\/file\.bin [^"]*" 200/);
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
    const hits = fs.readFileSync(path.join(work, 'access.log'), 'utf8').match(/GET \/loop/g) ?? [];
    expect(hits.length).toBe(MAX_REDIRECTS + 1);
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
