// Overlay fuzzing harness: every structure-aware mutant of a real overlay of the tiny base (test/helpers/
// overlay-mutants.ts; digest recomputed, so the parser has to refuse it) goes through the two places that
// read overlays from strangers: `cloudlet overlay apply` (a process of its own) and a real engine's synthesis
// from a URL. Each must be refused with a typed error, leave nothing behind, and stay within the bounds
// engine/overlay/FORMAT.md "Limits" documents: peak RSS at most 256 MiB above the idle process's, and bytes
// written at most the overlay's own length + 64 MiB. Peak RSS and bytes written are the kernel's counts
// (VmHWM, reset through clear_refs for the long-lived engine; wchar from /proc/PID/io).

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createOverlay } from '../../engine/overlay/writer';
import { FileServer, TestEngine, CLI_JS, requireBuild } from '../helpers/engine';
import { Mutant, joinOverlay, mutants, splitOverlay } from '../helpers/overlay-mutants';
import { GuestArtifacts, ensureBaseArchive, ensureGuest } from '../vms/guest';

const RSS_BOUND = 256 << 20;
const WRITE_SLACK = 64 << 20;
const REFUSALS = ['OVERLAY_BAD_MAGIC', 'OVERLAY_VERSION', 'OVERLAY_TRUNCATED', 'OVERLAY_CORRUPT', 'OVERLAY_LIMIT', 'OVERLAY_WRONG_BASE'];

let work: string;
let guest: GuestArtifacts;
let base: { file: string; baseId: string };
let good: Buffer;
let all: Mutant[];
let engine: TestEngine;
let files: FileServer;
const statsPreload = () => path.join(work, 'stats-preload.js');

beforeAll(async () => {
  requireBuild();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-fuzz-'));
  guest = await ensureGuest('tiny');
  base = await ensureBaseArchive('tiny');
  const out = path.join(work, 'good.clov');
  await createOverlay({ baseDisk: guest.baseDisk, baseMemory: guest.baseMemory, customDisk: guest.customDisk, customMemory: guest.customMemory, output: out, frameChunks: 64 });
  good = fs.readFileSync(out);
  const ram = guest.manifest.memoryMiB << 20;
  all = mutants(good, fs.statSync(guest.baseDisk).size, ram);
  // Written by the process itself as it exits: the kernel's peak RSS and bytes written for that process.
  fs.writeFileSync(
    statsPreload(),
    `process.on('exit', () => { const fs = require('fs'); const io = fs.readFileSync('/proc/self/io', 'utf8'); const st = fs.readFileSync('/proc/self/status', 'utf8');
      fs.writeFileSync(process.env.CL_STATS_OUT, JSON.stringify({ wchar: Number(/wchar: (\\d+)/.exec(io)[1]), hwm: Number(/VmHWM:\\s+(\\d+)/.exec(st)[1]) * 1024 })); });\n`,
  );
  engine = await TestEngine.start('fuzz');
  await engine.opOk((api) => api.bases.import({ source: base.file, sha256: base.baseId }), 'base import');
  files = new FileServer();
  await files.start();
}, 900000);

afterAll(async () => {
  await files?.stop();
  await engine?.destroy();
  fs.rmSync(work, { recursive: true, force: true });
});

/**
 * Runs `cloudlet overlay apply` on a file; returns its exit status, stderr and the kernel's counts. (Run
 * asynchronously: a blocked event loop would leave the engine client holding sockets the engine closed.)
 */
async function cliApply(overlay: string): Promise<{ status: number | null; stderr: string; wchar: number; hwm: number; outputs: string[] }> {
  const outDir = path.join(work, 'out');
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir);
  const stats = path.join(work, 'stats.json');
  fs.rmSync(stats, { force: true });
  const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [
        '-r',
        statsPreload(),
        CLI_JS,
        'overlay',
        'apply',
        overlay,
        '--base-disk',
        guest.baseDisk,
        '--base-memory',
        guest.baseMemory,
        '--out-disk',
        path.join(outDir, 'disk.qcow2'),
        '--out-memory',
        path.join(outDir, 'memory.save'),
        '--quiet',
      ],
      { env: { ...process.env, CL_STATS_OUT: stats }, encoding: 'utf8', timeout: 120000 },
      (err, _stdout, stderr) => resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
    );
  });
  const s = JSON.parse(fs.readFileSync(stats, 'utf8')) as { wchar: number; hwm: number };
  return { status: r.status, stderr: r.stderr, wchar: s.wchar, hwm: s.hwm, outputs: fs.readdirSync(outDir) };
}

function procIo(pid: number): { wchar: number } {
  return { wchar: Number(/wchar: (\d+)/.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))![1]) };
}
function procRss(pid: number): { rss: number; hwm: number } {
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: Number(/VmRSS:\s+(\d+)/.exec(st)![1]) * 1024, hwm: Number(/VmHWM:\s+(\d+)/.exec(st)![1]) * 1024 };
}

test('the harness itself: the good overlay, taken apart and put back together, applies (CLI and engine)', async () => {
  const rejoined = joinOverlay(splitOverlay(good));
  const f = path.join(work, 'rejoined.clov');
  fs.writeFileSync(f, rejoined);
  const r = await cliApply(f);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.outputs.sort()).toEqual(['disk.qcow2', 'memory.save']);
  const op = await engine.op((api) => api.instances.create({ name: 'fuzz-control', baseId: base.baseId, overlay: { url: files.serve('rejoined.clov', f) } }));
  expect(op.error ?? null).toBeNull();
  expect(op.state).toBe('succeeded');
  await engine.instances.delete('fuzz-control');
  expect(fs.readdirSync(path.join(engine.stateDir, 'overlays'))).toEqual([]);
  expect(all.length).toBeGreaterThan(150);
}, 300000);

test('cloudlet overlay apply refuses every mutant, within the RSS and write bounds, leaving nothing', async () => {
  const idleFile = path.join(work, 'missing.clov');
  const idle = await cliApply(idleFile);
  expect(idle.status).not.toBe(0);
  const worst = { rss: 0, written: 0, rssName: '', writtenName: '' };
  const byCode: Record<string, number> = {};
  for (const m of all) {
    const f = path.join(work, 'mutant.clov');
    fs.writeFileSync(f, m.bytes);
    const r = await cliApply(f);
    const code = /cloudlet: ([A-Z_]+):/.exec(r.stderr)?.[1] ?? `exit ${r.status}: ${r.stderr.slice(0, 300)}`;
    if (!REFUSALS.includes(code)) throw new Error(`mutant "${m.name}" was not refused with an overlay error: ${code}`);
    byCode[code] = (byCode[code] ?? 0) + 1;
    expect({ mutant: m.name, outputs: r.outputs }).toEqual({ mutant: m.name, outputs: [] });
    const above = r.hwm - idle.hwm;
    if (above > worst.rss) Object.assign(worst, { rss: above, rssName: m.name });
    const over = r.wchar - m.bytes.length;
    if (over > worst.written) Object.assign(worst, { written: over, writtenName: m.name });
    expect({ mutant: m.name, rssAboveIdleMiB: Math.round(above / 2 ** 20), withinBound: above <= RSS_BOUND }).toMatchObject({ withinBound: true });
    expect({ mutant: m.name, writtenBeyondLength: r.wchar - m.bytes.length, withinBound: r.wchar <= m.bytes.length + WRITE_SLACK }).toMatchObject({ withinBound: true });
  }
  process.stdout.write(
    `overlay apply: ${all.length} mutants refused (${JSON.stringify(byCode)}); idle peak RSS ${(idle.hwm / 2 ** 20).toFixed(0)} MiB; ` +
      `worst RSS above idle ${(worst.rss / 2 ** 20).toFixed(1)} MiB (${worst.rssName}); worst bytes written beyond the overlay's length ${worst.written} (${worst.writtenName})\n`,
  );
}, 900000);

test('a real engine refuses every mutant as a synthesis from a URL, within the RSS and write bounds, leaving nothing', async () => {
  const pid = engine.proc.pid!;
  const worst = { rss: 0, written: 0, rssName: '', writtenName: '' };
  const byCode: Record<string, number> = {};
  for (const [n, m] of all.entries()) {
    const f = path.join(work, `mutant-${n}.clov`);
    fs.writeFileSync(f, m.bytes);
    const url = files.serve(`m${n}.clov`, f);
    const idle = procRss(pid).rss;
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); // resets VmHWM to the current RSS
    const before = procIo(pid).wchar;
    const op = await engine.op((api) => api.instances.create({ name: `fuzz-${n}`, baseId: base.baseId, overlay: { url } }));
    const written = procIo(pid).wchar - before;
    const peak = procRss(pid).hwm;
    fs.rmSync(f);
    const code = op.error?.code ?? op.state;
    if (!REFUSALS.includes(code)) throw new Error(`mutant "${m.name}" was not refused by the engine: ${code} ${op.error?.message ?? ''}`);
    byCode[code] = (byCode[code] ?? 0) + 1;
    if (peak - idle > worst.rss) Object.assign(worst, { rss: peak - idle, rssName: m.name });
    if (written - m.bytes.length > worst.written) Object.assign(worst, { written: written - m.bytes.length, writtenName: m.name });
    expect({ mutant: m.name, rssAboveIdleMiB: Math.round((peak - idle) / 2 ** 20), withinBound: peak - idle <= RSS_BOUND }).toMatchObject({ withinBound: true });
    expect({ mutant: m.name, written, withinBound: written <= m.bytes.length + WRITE_SLACK }).toMatchObject({ withinBound: true });
    expect({
      mutant: m.name,
      instances: fs.readdirSync(path.join(engine.stateDir, 'instances')),
      overlays: fs.readdirSync(path.join(engine.stateDir, 'overlays')),
      tmp: fs.readdirSync(path.join(engine.stateDir, 'tmp')),
    }).toEqual({
      mutant: m.name,
      instances: [],
      overlays: [],
      tmp: [],
    });
  }
  process.stdout.write(
    `engine synthesis: ${all.length} mutants refused (${JSON.stringify(byCode)}); worst RSS above idle ${(worst.rss / 2 ** 20).toFixed(1)} MiB (${worst.rssName}); ` +
      `worst bytes written beyond the overlay's length ${worst.written} (${worst.writtenName})\n`,
  );
}, 900000);
