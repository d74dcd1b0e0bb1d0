// Crash-point harness: for each long operation (base import, resume, overlay creation, synthesis, handoff
// source and destination) a real engine is killed with SIGKILL at every crash point of engine/core/
// crash-points.ts (phase boundaries, and points inside the phases that loop: the n-th downloaded piece, the
// n-th delta progress step), then started again. After each restart: the store holds only whole objects,
// no operation is left running, no snapshot or half-made file stays, no QEMU runs that no instance owns, no
// fetched overlay stays unused, the guest state is the newest one committed (a file the guest synced before
// the kill is there, its in-memory counter never goes back) and a later restart never resumes it again.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CRASH_POINTS } from '../../engine/core/crash-points';
import { FileServer, TestEngine, makeOverlayFile } from '../helpers/engine';
import { ensureBaseArchive } from '../vms/guest';

let work: string;
let base: { file: string; baseId: string };
let a: TestEngine;
let b: TestEngine;
let files: FileServer;
let overlayUrl: string;
const tried: string[] = [];
const HANDOFF_TIMEOUTS = ['--handoff-stall-timeout', '5', '--handoff-confirm-timeout', '20'];

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-crash-'));
  base = await ensureBaseArchive('tiny');
  a = await TestEngine.start('crash-a', HANDOFF_TIMEOUTS);
  b = await TestEngine.start('crash-b', HANDOFF_TIMEOUTS);
  // Restarted engines come back at the same address, as a cloudlet does (a handoff's peer retries there).
  for (const e of [a, b]) e.listen = new URL(e.endpoint).host;
  files = new FileServer();
  await files.start();
}, 300000);

afterAll(async () => {
  process.stdout.write(`crash-point harness: ${tried.length} kill points tried: ${tried.join(', ')}\n`);
  await files?.stop();
  await a?.destroy();
  await b?.destroy();
  fs.rmSync(work, { recursive: true, force: true });
});

/** Restarts `e` so that it SIGKILLs itself at `point` (`name` or `name:n`). */
async function armed(e: TestEngine, point: string): Promise<{ died: Promise<NodeJS.Signals | null> }> {
  await e.stop();
  e.env = { CLOUDLET_CRASH_AT: point };
  await e.boot();
  e.env = {};
  return { died: new Promise((resolve) => e.proc.once('exit', (_code, signal) => resolve(signal))) };
}

/** Waits until the armed engine has killed itself (the point was reached), then starts it again. */
async function killedAndRestarted(e: TestEngine, armedFor: { died: Promise<NodeJS.Signals | null> }, point: string, trigger?: Promise<unknown>): Promise<void> {
  trigger?.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([armedFor.died, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 240000)))]);
  clearTimeout(timer);
  if (outcome !== 'SIGKILL') throw new Error(`crash point ${point} was not reached (engine: ${outcome})\n${e.log.slice(-3000)}`);
  tried.push(point);
  process.stderr.write(`crash point ${point}: killed\n`);
  await e.stop(); // closes the client and the log
  await e.boot();
}

async function exec(e: TestEngine, id: string, command: string): Promise<string> {
  const r = await e.instances.exec(id, { command });
  if (r.code !== 0) throw new Error(`${command}: exit ${r.code}: ${r.stdout}`);
  return r.stdout.trim();
}

/** QEMU processes started from this engine's libvirt root. */
function qemusOf(e: TestEngine): string[] {
  const root = fs.realpathSync(path.join(e.stateDir, 'libvirt'));
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.startsWith('/usr/bin/qemu-system') && cmd.includes(root)) out.push(/guest=([^,\0]+)/.exec(cmd)?.[1] ?? '?');
    } catch {
      // gone
    }
  }
  return out;
}

/** The store invariants every restart must leave. */
async function checkStore(e: TestEngine, point: string): Promise<void> {
  const ls = (d: string) => fs.readdirSync(path.join(e.stateDir, d));
  // An operation the surviving side finishes on its own (a source removing its copy after the destination
  // confirmed, then died) may still be in its last phase when the VM already runs at one place: give it time
  // to end, and fail if it never does.
  const deadline = Date.now() + 60000;
  let open = (await e.operations.list()).operations.filter((o) => o.state === 'running');
  while (open.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    open = (await e.operations.list()).operations.filter((o) => o.state === 'running');
  }
  expect({ point, running: open.map((o) => `${o.kind}:${o.phase}`) }).toEqual({ point, running: [] });
  expect({ point, tmp: ls('tmp') }).toEqual({ point, tmp: [] });
  for (const id of ls('bases')) {
    const rec = JSON.parse(fs.readFileSync(path.join(e.stateDir, 'bases', id, 'base.json'), 'utf8')) as { disk: { bytes: number }; memory: { bytes: number } };
    expect({ point, disk: fs.statSync(path.join(e.stateDir, 'bases', id, 'disk.raw')).size, memory: fs.statSync(path.join(e.stateDir, 'bases', id, 'memory.save')).size }).toEqual({
      point,
      disk: rec.disk.bytes,
      memory: rec.memory.bytes,
    });
  }
  const insts = (await e.instances.list()).instances;
  for (const o of ls('overlays')) {
    const rec = JSON.parse(fs.readFileSync(path.join(e.stateDir, 'overlays', o, 'overlay.json'), 'utf8')) as { bytes: number; fetched?: boolean };
    expect({ point, overlay: o, bytes: fs.statSync(path.join(e.stateDir, 'overlays', o, 'overlay.clov')).size }).toEqual({ point, overlay: o, bytes: rec.bytes });
    if (rec.fetched) expect({ point, fetchedOverlayUsed: insts.some((i) => i.overlayId === o) }).toEqual({ point, fetchedOverlayUsed: true });
  }
  for (const i of insts) {
    expect({ point, instance: i.id, state: i.state }).toEqual({ point, instance: i.id, state: expect.stringMatching(/^(running|paused|stopped)$/) });
    const left = fs.readdirSync(path.join(e.stateDir, 'instances', i.id)).filter((f) => /^(resume\.save|resume\.saving|resume\.consumed|memory\.save)/.test(f) || f.includes('.partial-'));
    expect({ point, instance: i.id, left }).toEqual({ point, instance: i.id, left: [] });
  }
  const owned = new Set(insts.filter((i) => i.state !== 'stopped').map((i) => i.domain));
  expect({ point, orphanQemu: qemusOf(e).filter((d) => !owned.has(d)) }).toEqual({ point, orphanQemu: [] });
}

async function deleteAllInstances(e: TestEngine): Promise<void> {
  for (const i of (await e.instances.list()).instances) await e.instances.delete(i.id);
}

/** After a failed check, what the next test starts from must not be this one's leftovers. */
async function cleanUp(): Promise<void> {
  for (const e of [a, b]) {
    if (!e.client) await e.boot().catch(() => undefined);
    await deleteAllInstances(e).catch(() => undefined);
  }
}

async function resumeBase(e: TestEngine, name: string): Promise<string> {
  const v = await e.opOk((api) => api.instances.create({ name, baseId: base.baseId }), 'resume');
  return (v.result as { instance: { id: string } }).instance.id;
}

/** Writes a file the guest syncs to disk and reads the in-memory counter: the state a crash must keep. */
async function committedState(e: TestEngine, id: string, tag: string): Promise<{ counter: number; marker: string }> {
  const marker = `${tag}-${Date.now()}`;
  await exec(e, id, `echo ${marker} > /data/crash-marker && sync`);
  return { counter: Number(await exec(e, id, 'cat /run/counter')), marker };
}

async function expectState(e: TestEngine, id: string, before: { counter: number; marker: string }, point: string): Promise<void> {
  expect({ point, marker: await exec(e, id, 'cat /data/crash-marker') }).toEqual({ point, marker: before.marker });
  const now = Number(await exec(e, id, 'cat /run/counter'));
  expect({ point, counterWentBack: now < before.counter }).toEqual({ point, counterWentBack: false });
}

/** The reported bug's second half: stopped after recovery, a restart must not resume it from an old snapshot. */
async function expectNoSecondResume(e: TestEngine, id: string, point: string): Promise<void> {
  await exec(e, id, 'echo later > /data/after-recovery && sync');
  await e.instances.power(id, { state: 'stopped' });
  await e.kill9();
  const logBefore = e.log.length;
  await e.boot();
  const st = await e.instances.get(id);
  const recovery = e.log.slice(logBefore);
  expect({ point, stateAfterRestart: st.state, resumedFromSnapshot: /from its interrupted snapshot/.test(recovery) }).toEqual({ point, stateAfterRestart: 'stopped', resumedFromSnapshot: false });
}

test('base import: killed at every point, the base is whole or absent and a retry works', async () => {
  for (const point of CRASH_POINTS['import-base']) {
    const died = await armed(a, point);
    const trigger = a.bases.import({ source: base.file, sha256: base.baseId });
    await killedAndRestarted(a, died, point, trigger);
    await checkStore(a, point);
    const bases = fs.readdirSync(path.join(a.stateDir, 'bases'));
    expect({ point, bases: bases.filter((x) => x !== base.baseId) }).toEqual({ point, bases: [] });
    if (bases.length > 0) await a.bases.delete(base.baseId);
  }
  await a.opOk((api) => api.bases.import({ source: base.file, sha256: base.baseId }), 'base import after the crashes');
  await b.opOk((api) => api.bases.import({ source: base.file, sha256: base.baseId }), 'base import (b)');
}, 900000);

test('resume of a base: killed at every point, the instance runs or is gone', async () => {
  for (const point of CRASH_POINTS.resume) {
    const died = await armed(a, point);
    const trigger = a.instances.create({ name: 'crash-resume', baseId: base.baseId });
    await killedAndRestarted(a, died, point, trigger);
    await checkStore(a, point);
    const insts = (await a.instances.list()).instances;
    for (const i of insts) expect({ point, state: i.state }).toEqual({ point, state: 'running' });
    await deleteAllInstances(a);
  }
}, 900000);

test('overlay creation: killed at every point (and inside the delta), the VM comes back with its newest state, once', async () => {
  const points = [...CRASH_POINTS['create-overlay'], 'create-overlay.delta-chunk:3'];
  try {
    for (const point of points) {
      const id = await resumeBase(a, 'crash-custom');
      const before = await committedState(a, id, point.replace(/[^a-z0-9]/g, ''));
      const died = await armed(a, point);
      const trigger = a.overlays.import({ instanceId: id });
      await killedAndRestarted(a, died, point, trigger);
      await checkStore(a, point);
      const st = await a.instances.get(id);
      expect({ point, state: st.state }).toEqual({ point, state: 'running' });
      await expectState(a, id, before, point);
      await expectNoSecondResume(a, id, point);
      await checkStore(a, point);
      await deleteAllInstances(a);
      for (const o of (await a.overlays.list()).overlays) await a.overlays.delete(o.id);
    }
  } finally {
    await cleanUp();
  }
}, 1800000);

test('synthesis from a URL: killed at every point (and inside the fetch and the apply), no instance, file or fetched overlay is left half-made', async () => {
  const file = path.join(work, 'crash.clov');
  await makeOverlayFile(a, base, file, 'echo synthesized > /data/synth-marker && sync');
  overlayUrl = files.serve('crash.clov', file);
  const points = [...CRASH_POINTS.synthesize, 'synthesize.fetch-chunk:2', 'synthesize.apply:2'];
  try {
    for (const point of points) {
      const died = await armed(a, point);
      const trigger = a.instances.create({ name: 'crash-synth', baseId: base.baseId, overlay: { url: overlayUrl } });
      await killedAndRestarted(a, died, point, trigger);
      await checkStore(a, point);
      const insts = (await a.instances.list()).instances;
      for (const i of insts) {
        expect({ point, state: i.state }).toEqual({ point, state: 'running' });
        expect({ point, marker: await exec(a, i.id, 'cat /data/synth-marker') }).toEqual({ point, marker: 'synthesized' });
      }
      await deleteAllInstances(a);
      expect({ point, overlays: fs.readdirSync(path.join(a.stateDir, 'overlays')) }).toEqual({ point, overlays: [] });
    }
    // And a synthesis after all that works.
    const ok = await a.opOk((api) => api.instances.create({ name: 'crash-synth-ok', baseId: base.baseId, overlay: { url: overlayUrl } }), 'synthesis after the crashes');
    expect(await exec(a, ok.target!.id, 'cat /data/synth-marker')).toBe('synthesized');
  } finally {
    await cleanUp();
  }
}, 1800000);

/** Where the VM runs after a handoff that one side did not survive: exactly one running copy, none paused. */
async function copies(): Promise<{ at: string; id: string; state: string }[]> {
  const out: { at: string; id: string; state: string }[] = [];
  for (const [at, e] of [
    ['a', a],
    ['b', b],
  ] as const)
    for (const i of (await e.instances.list()).instances) out.push({ at, id: i.id, state: i.state });
  return out;
}

test('handoff: killed at every point of the source and of the destination, the VM runs at exactly one cloudlet with its state', async () => {
  const points: [TestEngine, string, string][] = [
    ...CRASH_POINTS['handoff-out'].map((p) => [a, 'a', p] as [TestEngine, string, string]),
    ...CRASH_POINTS['handoff-in'].map((p) => [b, 'b', p] as [TestEngine, string, string]),
  ];
  try {
    for (const [victim, side, point] of points) {
      const id = await resumeBase(a, 'crash-move');
      const before = await committedState(a, id, point.replace(/[^a-z0-9]/g, ''));
      const died = await armed(victim, point);
      const trigger = b.handoffs.create({ source: { endpoint: a.endpoint, token: a.token }, instanceId: id });
      const started = await trigger.catch(() => null);
      await killedAndRestarted(victim, died, `${side}:${point}`, trigger);
      // The side that lived settles on its own (a destination's confirmation retries, a source's stall timeout).
      if (started && victim === a) await b.settle(started.operation.id);
      const deadline = Date.now() + 120000;
      let now = await copies();
      while (Date.now() < deadline && !(now.length === 1 && now[0].state === 'running')) {
        await new Promise((r) => setTimeout(r, 1000));
        now = await copies();
      }
      expect({ point, copies: now.map((c) => `${c.at}:${c.state}`) }).toEqual({ point, copies: [expect.stringMatching(/^[ab]:running$/)] });
      const where = now[0].at === 'a' ? a : b;
      await expectState(where, id, before, point);
      await checkStore(a, point);
      await checkStore(b, point);
      await deleteAllInstances(a);
      await deleteAllInstances(b);
    }
  } finally {
    await cleanUp();
  }
}, 2400000);
