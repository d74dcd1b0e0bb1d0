// The dashboard's side of the API server: browser sessions and the page itself (built from engine/dashboard
// by Vite into dist/dashboard). A browser logs in once with the API token, or with a one-time code that
// `cloudlet dashboard` mints, and gets a session cookie (HttpOnly, SameSite=Strict, Secure over TLS) plus a
// CSRF token it must send in a header with every request that changes something; a cross-site page can
// neither send the cookie nor read the token. Neither the token nor a code ever goes in a URL the server sees
// (the login link carries its code in the fragment, which the page posts and drops from its history).
// Sessions live in the engine's memory: a restarted engine asks for a new login.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { CSRF_HEADER, SESSION_COOKIE } from '../contract/routes';
import { DashboardSessionRecord, LoginCodeRecord } from '../contract/schemas';
import { CloudletError } from '../errors';

const SESSION_TTL_MS = 12 * 3600 * 1000;
const CODE_TTL_MS = 5 * 60 * 1000;
const MAX_SESSIONS = 1000;

const digest = (s: string) => createHash('sha256').update(s).digest('hex');

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(digest(a), 'hex');
  const y = Buffer.from(digest(b), 'hex');
  return timingSafeEqual(x, y);
}

function cookieOf(req: http.IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === SESSION_COOKIE) return v.join('=');
  }
  return undefined;
}

export class DashboardSessions {
  /** By the SHA-256 of the cookie's value (the value itself is kept nowhere). */
  private readonly sessions = new Map<string, { csrf: string; expires: number }>();
  private readonly codes = new Map<string, number>();

  constructor(private readonly secure: boolean) {}

  issueCode(): LoginCodeRecord {
    this.prune();
    const code = randomBytes(24).toString('base64url');
    const expires = Date.now() + CODE_TTL_MS;
    this.codes.set(digest(code), expires);
    return { code, expires: new Date(expires).toISOString() };
  }

  /** Whether `code` is a live one-time code; it is spent either way. */
  redeemCode(code: string): boolean {
    const key = digest(code);
    const expires = this.codes.get(key);
    this.codes.delete(key);
    return expires !== undefined && expires > Date.now();
  }

  /** A new session: the cookie on `res`, the CSRF token in the answer. */
  open(res: http.ServerResponse): DashboardSessionRecord {
    this.prune();
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const value = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    const expires = Date.now() + SESSION_TTL_MS;
    this.sessions.set(digest(value), { csrf, expires });
    res.setHeader('set-cookie', `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}${this.secure ? '; Secure' : ''}`);
    return { csrf, expires: new Date(expires).toISOString() };
  }

  private lookup(req: http.IncomingMessage): { csrf: string; expires: number } | undefined {
    const value = cookieOf(req);
    if (!value) return undefined;
    const s = this.sessions.get(digest(value));
    return s && s.expires > Date.now() ? s : undefined;
  }

  /**
   * Whether the request comes with a live session: any request that may change something (not GET or HEAD)
   * also needs the session's CSRF token, and a request whose Origin names another site is refused.
   */
  allows(req: http.IncomingMessage): boolean {
    const s = this.lookup(req);
    if (!s) return false;
    const origin = req.headers.origin;
    if (origin !== undefined && req.headers.host !== undefined && origin.replace(/^https?:\/\//, '') !== req.headers.host) return false;
    if (req.method === 'GET' || req.method === 'HEAD') return true;
    const given = req.headers[CSRF_HEADER];
    return typeof given === 'string' && sameSecret(given, s.csrf);
  }

  current(req: http.IncomingMessage): DashboardSessionRecord {
    const s = this.lookup(req);
    if (!s) throw new CloudletError('UNAUTHORIZED', 'unauthorized');
    return { csrf: s.csrf, expires: new Date(s.expires).toISOString() };
  }

  close(req: http.IncomingMessage, res: http.ServerResponse): void {
    const value = cookieOf(req);
    if (value) this.sessions.delete(digest(value));
    res.setHeader('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${this.secure ? '; Secure' : ''}`);
  }

  private prune(): void {
    const now = Date.now();
    for (const [k, s] of this.sessions) if (s.expires <= now) this.sessions.delete(k);
    for (const [k, e] of this.codes) if (e <= now) this.codes.delete(k);
  }
}

/** Where the built page is (dist/dashboard, next to dist/engine). */
export function dashboardDir(): string {
  return process.env.CLOUDLET_DASHBOARD_DIR ?? path.resolve(__dirname, '..', '..', 'dashboard');
}

/** What every dashboard answer carries: a strict CSP (our own scripts and styles only) and no framing. */
export const DASHBOARD_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/**
 * The page's files: /dashboard/ is index.html (never cached: it names the current bundle), /dashboard/assets/*
 * are content-hashed by Vite (cached for a year). No data here: everything the page shows comes from the
 * API, with the session.
 */
export function serveDashboard(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): void {
  const root = dashboardDir();
  if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'method not allowed');
  if (pathname === '/dashboard') {
    res.writeHead(308, { location: '/dashboard/', ...DASHBOARD_HEADERS });
    return void res.end();
  }
  const rel = pathname === '/dashboard/' ? 'index.html' : decodeURIComponent(pathname.slice('/dashboard/'.length));
  const file = path.resolve(root, rel);
  if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    if (!fs.existsSync(path.join(root, 'index.html'))) return plain(res, 503, `the dashboard is not built (${root}): run npm run build`);
    return plain(res, 404, 'not found');
  }
  const body = fs.readFileSync(file);
  const hashed = rel.startsWith('assets/');
  res.writeHead(200, {
    'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
    ...DASHBOARD_HEADERS,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function plain(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...DASHBOARD_HEADERS });
  res.end(text + '\n');
}
