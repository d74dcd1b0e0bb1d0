// The dashboard in a real browser (Debian's chromium, driven by playwright-core) against two real engines:
// log in; import the tiny base by URL; resume it; create an overlay and download it; synthesize an instance
// and see it running with its endpoint answering; hand it off to the second engine from the page and see it
// arrive there; terminate it. And the guards: a wrong token, a request without the session cookie, one
// without the CSRF token, a reused login link, a base named with HTML; an axe-core check of every view.
// Screenshots of each view go to test-artifacts/dashboard/ (CLOUDLET_TEST_ARTIFACTS to put them elsewhere).

import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import axe from 'axe-core';
import { Browser, BrowserContext, Page, chromium } from 'playwright-core';
import { repoRoot } from '../../provider/build';
import { CLI_JS, FileServer, TestEngine } from '../helpers/engine';
import { ensureBaseArchive } from '../vms/guest';

jest.setTimeout(900000);

const ARTIFACTS = process.env.CLOUDLET_TEST_ARTIFACTS ?? path.join(repoRoot(), 'test-artifacts', 'dashboard');
const XSS_NAME = '<img src=x onerror="window.__xss=1">';

let a: TestEngine;
let b: TestEngine;
let files: FileServer;
let browser: Browser;
let base: { file: string; baseId: string };

beforeAll(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  base = await ensureBaseArchive('tiny');
  files = new FileServer();
  await files.start();
  [a, b] = await Promise.all([TestEngine.start('dash-a'), TestEngine.start('dash-b')]);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([a?.destroy(), b?.destroy()]);
  await files?.stop();
});

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  page.on('dialog', (d) => void d.dismiss());
  return { context, page };
}

async function login(page: Page, e: TestEngine, token = e.token): Promise<void> {
  await page.goto(`${e.endpoint}/dashboard/`);
  await page.getByLabel('Engine token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
}

async function tab(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'views' }).getByRole('button', { name, exact: true }).click();
  await page.getByRole('heading', { level: 2, name }).waitFor();
}

/** An axe-core run over the page as it is: no serious or critical violation. */
async function accessible(page: Page, view: string): Promise<void> {
  await page.evaluate(axe.source);
  const violations = await page.evaluate(async () => {
    // In the page (this file is compiled without the DOM's types): its axe, its document.
    const g = globalThis as unknown as { axe: typeof axe; document: never };
    const r = await g.axe.run(g.document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  });
  expect({ view, violations }).toEqual({ view, violations: [] });
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

test('the page has a strict CSP and no data without a session; a wrong token is refused; the session cookie is HttpOnly and SameSite=Strict', async () => {
  const r = await fetch(`${a.endpoint}/dashboard/`);
  expect(r.status).toBe(200);
  const csp = r.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("script-src 'self'");
  expect(csp).not.toContain('unsafe-inline');
  expect(r.headers.get('x-frame-options')).toBe('DENY');
  expect(r.headers.get('cache-control')).toBe('no-cache');
  const asset = /src="(\/dashboard\/assets\/[^"]+\.js)"/.exec(await r.text())![1];
  expect((await fetch(`${a.endpoint}${asset}`)).headers.get('cache-control')).toContain('immutable');

  const { context, page } = await newPage();
  try {
    await login(page, a, 'not-the-token-at-all');
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/refused that token/);
    // Without a session the page gets no data: the API answers 401.
    const noCookie = await page.evaluate(async () => (await fetch('/v1/instances')).status);
    expect(noCookie).toBe(401);
    await accessible(page, 'login');
    await shot(page, 'login');

    await page.getByLabel('Engine token').fill(a.token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 2, name: 'Instances' }).waitFor();
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'cloudlet_session', httpOnly: true, sameSite: 'Strict' });
    expect(cookie.value).not.toContain(a.token);
    // With the cookie, reads work; a change without the CSRF token is refused.
    const withCookie = await page.evaluate(async () => {
      const read = (await fetch('/v1/instances')).status;
      const change = (await fetch('/v1/networks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'csrf-probe' }) })).status;
      return { read, change };
    });
    expect(withCookie).toEqual({ read: 200, change: 401 });
    expect((await a.networks.list()).networks.map((n) => n.name)).not.toContain('csrf-probe');
    expect(page.url()).not.toContain(a.token);
  } finally {
    await context.close();
  }
});

test('the OpenStack++ workflow from the page: import, resume, overlay, download, synthesize, hand off, terminate', async () => {
  const { context, page } = await newPage();
  try {
    // The one-time link of `cloudlet dashboard`: the code leaves the address bar and cannot be used twice.
    const link = execFileSync(process.execPath, [CLI_JS, 'dashboard', '--endpoint', a.endpoint], { env: { ...process.env, CLOUDLET_TOKEN: a.token }, encoding: 'utf8' }).split('\n')[0];
    expect(link).toMatch(new RegExp(`^${a.endpoint}/dashboard/#login=[A-Za-z0-9_-]+$`));
    await page.goto(link);
    await page.getByRole('heading', { level: 2, name: 'Instances' }).waitFor();
    expect(page.url()).toBe(`${a.endpoint}/dashboard/`);
    await accessible(page, 'instances (empty)');

    // Base VMs: import the tiny base by URL through the form.
    await tab(page, 'Base VMs');
    await page.getByLabel('Archive URL or path on the cloudlet host').fill(files.serve('base.tar', base.file));
    await page.getByRole('button', { name: 'Import Base VM', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Import Base VM: done' }).waitFor();
    await page.getByRole('cell', { name: /^tiny-base/ }).waitFor({ timeout: 120000 });
    await accessible(page, 'base VMs');
    await shot(page, 'bases');

    // Resume Base VM → a running customization VM; Create VM overlay from it.
    await page.getByLabel('Name of the resumed VM').fill('custom');
    await page.getByRole('button', { name: 'Resume Base VM' }).click();
    await page.getByRole('status').filter({ hasText: 'Resume Base VM' }).waitFor();
    await tab(page, 'Instances');
    const customRow = page.locator('tr[data-instance="custom"]');
    await customRow.getByText('running', { exact: true }).waitFor({ timeout: 120000 });
    await a.instances.exec((await a.instances.get('custom')).id, { command: 'echo from-the-dashboard > /data/marker && sync' });
    await customRow.getByRole('button', { name: 'Create VM overlay' }).click();
    await tab(page, 'Operations');
    await page.locator('tr[data-operation="create-overlay"]').getByText('succeeded').waitFor({ timeout: 300000 });
    await accessible(page, 'operations');
    await shot(page, 'operations');

    // Overlays: download it (through the session, no signed URL in the page).
    await tab(page, 'Overlays');
    const overlay = (await a.overlays.list()).overlays[0];
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download VM overlay' }).click()]);
    const saved = path.join(ARTIFACTS, 'downloaded.clov');
    await download.saveAs(saved);
    expect(fs.statSync(saved).size).toBe(overlay.bytes);
    fs.rmSync(saved);
    await accessible(page, 'overlays');
    await shot(page, 'overlays');

    // Start VM Synthesis from the stored overlay, with port 80 published: running, its endpoint answering.
    await tab(page, 'Instances');
    await page.getByLabel('Instance name').fill('web');
    await page.getByLabel('Overlay stored here').selectOption(overlay.id);
    await page.getByLabel('Publish guest port (optional)').fill('80');
    await page.getByRole('button', { name: 'Start VM Synthesis', exact: true }).click();
    const webRow = page.locator('tr[data-instance="web"]');
    await webRow.getByText('running', { exact: true }).waitFor({ timeout: 300000 });
    const link80 = webRow.getByRole('link');
    await link80.waitFor();
    const endpoint = (await link80.getAttribute('href'))!;
    expect(endpoint).toBe((await a.instances.get('web')).endpoints[0]);
    expect((await (await fetch(`${endpoint}/cgi-bin/id`)).text()).trim()).toMatch(/^web \d+$/);
    expect((await a.instances.exec((await a.instances.get('web')).id, { command: 'cat /data/marker' })).stdout.trim()).toBe('from-the-dashboard');
    await accessible(page, 'instances');
    await shot(page, 'instances');

    // Networks view (the default network was made for these instances).
    await tab(page, 'Networks');
    await page.getByRole('cell', { name: /default/ }).waitFor();
    await accessible(page, 'networks');
    await shot(page, 'networks');

    // Pause and start it again from the page.
    await tab(page, 'Instances');
    await webRow.getByRole('button', { name: 'Pause' }).click();
    await webRow.getByText('paused', { exact: true }).waitFor();
    expect((await a.instances.get('web')).state).toBe('paused');
    await webRow.getByRole('button', { name: 'Start' }).click();
    await webRow.getByText('running', { exact: true }).waitFor();

    // The destination needs the base (a handoff sends only what differs from it): upload it from b's page.
    const other = await newPage();
    await login(other.page, b);
    await tab(other.page, 'Base VMs');
    await other.page.getByLabel('or upload an archive').setInputFiles(base.file);
    await other.page.getByRole('button', { name: 'Import Base VM', exact: true }).click();
    await other.page.getByRole('status').filter({ hasText: 'Import Base VM from base.tar: done' }).waitFor({ timeout: 300000 });
    expect((await b.bases.list()).bases.map((x) => x.id)).toEqual([base.baseId]);

    // Peers: add b, then VM Handoff of web to it; it arrives there and answers at b's endpoint.
    await tab(page, 'Peers');
    await page.getByLabel('Name', { exact: true }).fill('b');
    await page.getByLabel('Endpoint').fill(b.endpoint);
    await page.getByLabel('Its API token (kept on this engine, never shown)').fill(b.token);
    await page.getByRole('button', { name: 'Add peer' }).click();
    await page.getByRole('cell', { name: b.endpoint }).waitFor();
    expect(await page.content()).not.toContain(b.token);
    await accessible(page, 'peers');
    await shot(page, 'peers');
    await tab(page, 'Instances');
    await webRow.getByRole('button', { name: 'VM Handoff' }).click();
    await page.getByRole('status').filter({ hasText: 'VM Handoff of web to b' }).waitFor();
    await tab(page, 'Operations');
    await page.locator('tr[data-operation="handoff-push"]').getByText('succeeded').waitFor({ timeout: 600000 });
    await shot(page, 'handoff');
    const moved = await b.instances.get('web');
    expect(moved.state).toBe('running');
    expect((await (await fetch(`${moved.endpoints[0]}/cgi-bin/id`)).text()).trim()).toMatch(/^web \d+$/);
    expect((await a.instances.list()).instances.map((i) => i.name)).not.toContain('web');

    // At b's dashboard the instance is there; Terminate it from that page.
    try {
      await tab(other.page, 'Instances');
      const there = other.page.locator('tr[data-instance="web"]');
      await there.getByText('running', { exact: true }).waitFor();
      await there.getByRole('button', { name: 'Terminate' }).click();
      await there.waitFor({ state: 'detached' });
      expect((await b.instances.list()).instances).toEqual([]);
    } finally {
      await other.context.close();
    }
    await tab(page, 'Instances');
    await customRow.getByRole('button', { name: 'Terminate' }).click();
    await customRow.waitFor({ state: 'detached' });
    expect((await a.instances.list()).instances).toEqual([]);

    // A base named with HTML (the API takes any name for an imported archive) shows as text, runs nothing.
    for (const o of (await a.overlays.list()).overlays) await a.overlays.delete(o.id);
    await a.bases.delete(base.baseId);
    await a.opOk((api) => api.bases.import({ source: base.file, sha256: base.baseId, name: XSS_NAME }), 'base with an HTML name');
    await tab(page, 'Base VMs');
    await page.getByRole('cell', { name: XSS_NAME, exact: true }).waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.locator('img[src="x"]').count()).toBe(0);

    // The login link cannot be used a second time.
    const again = await newPage();
    try {
      await again.page.goto(link);
      await again.page.getByRole('alert').filter({ hasText: 'used already or has expired' }).waitFor();
    } finally {
      await again.context.close();
    }
  } finally {
    await context.close();
  }
});

test('objects Terraform made are marked, and changing one from the page says the next deploy puts it back', async () => {
  // What the provider sends: its client name (x-cloudlet-client), recorded on what it makes.
  const res = await fetch(`${a.endpoint}/v1/networks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json', 'x-cloudlet-client': 'terraform' },
    body: JSON.stringify({ name: 'tf-net' }),
  });
  expect(res.status).toBe(201);
  expect(((await res.json()) as { createdBy?: string }).createdBy).toBe('terraform');
  const { context, page } = await newPage();
  try {
    await login(page, a);
    await tab(page, 'Networks');
    const row = page.getByRole('row').filter({ hasText: 'tf-net' });
    await row.getByText('Terraform', { exact: true }).waitFor();
    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('status').filter({ hasText: 'the next cdktf deploy will put it back' }).waitFor();
    expect((await a.networks.list()).networks.map((n) => n.name)).not.toContain('tf-net');
  } finally {
    await context.close();
  }
});

test('cloudlet dashboard relays a loopback port to the local engine on its unix socket, with a one-time link', async () => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'dash-local-'));
  const child = spawn(process.execPath, [CLI_JS, 'dashboard', '--state-dir', state], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const link = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /^(http:\/\/127\.0\.0\.1:\d+\/dashboard\/#login=[A-Za-z0-9_-]+)$/m.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`cloudlet dashboard exited ${code}: ${out}`)));
    });
    const { context, page } = await newPage();
    try {
      await page.goto(link);
      await page.getByRole('heading', { level: 2, name: 'Instances' }).waitFor();
      expect(page.url()).not.toContain('#login');
      await tab(page, 'Networks');
      await page.getByLabel('Name', { exact: true }).fill('via-relay');
      await page.getByRole('button', { name: 'Create network' }).click();
      await page.getByRole('status').waitFor();
      expect(await page.getByRole('status').textContent()).toBe('Create network via-relay: done.');
      await page.getByRole('cell', { name: /^via-relay/ }).waitFor();
    } finally {
      await context.close();
    }
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
    execFileSync(process.execPath, [CLI_JS, 'engine', 'stop', '--state-dir', state]);
    fs.rmSync(state, { recursive: true, force: true });
  }
});
