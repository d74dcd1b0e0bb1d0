// `npm run bench:restore`: restores that map the base's memory image (new path) against restores that read
// every page of a save file (old path: the same engines started with --no-ram-mapping), on the cloud-style
// guest built at 1, 2 and 4 GiB of RAM (BENCH_RESTORE_SIZES), each base holding a working set of half its RAM
// (test/vms/guest.ts ensureSizedCloudGuest). Two real engines: one on the host, one in a network namespace
// behind a tc-shaped veth. Per size and path:
//   - restore: the libvirt restore of a local synthesis (instance timing vmRestore; best of two);
//   - synthesis end to end at 100 Mbit/s in the namespace, against the overlay's transfer time alone;
//   - handoff at 25 Mbit/s host → namespace: the pause as the engines measure it (source paused → destination
//     resumed), as the guest shows it (its serial ticker) and as a client polling the app sees it;
//   - host memory of 5 instances of one base: PSS (/proc/PID/smaps_rollup) of their QEMUs, and of the guest
//     RAM mapping alone, against 5 x RAM.
// Prints a table and writes .bench/restore.json. BENCH_RESTORE_SIZES and BENCH_RESTORE_PATHS narrow a run.
//
// Goals (issue 17): restore at 4 GiB <= 1.3 x restore at 1 GiB; synthesis end to end at 100 Mbit/s <= overlay
// transfer + 0.5 s; handoff downtime <= 1 s at 25 Mbit/s; PSS of 5 instances <= RAM + their changed pages x 1.2.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspectOverlay } from '../../engine/overlay/apply';
import { createOverlay } from '../../engine/overlay/writer';
import { repoRoot } from '../../provider/build';
import { FileServer, TestEngine, qemuPids } from '../helpers/engine';
import { GuestArtifacts, baseArchiveOf, ensureSizedCloudGuest } from '../vms/guest';
import { HOST_IP, IN_NS, NS_IP, fetchInNs, netnsDown, netnsUp, shape } from './netns';
import { observedHandoff } from './observe';

const ROOT = repoRoot();
const SIZES = (process.env.BENCH_RESTORE_SIZES ?? '1024,2048,4096').split(',').map(Number);
// Both paths unless told (BENCH_RESTORE_PATHS=new: a quicker look at the new one alone; the report then has no comparison).
const PATHS = (process.env.BENCH_RESTORE_PATHS ?? 'new,old').split(',').filter((p): p is PathName => p === 'new' || p === 'old');
const INSTANCES = 5;
const MiB = 2 ** 20;

type PathName = 'old' | 'new';

interface PathResult {
  restoreSeconds: number;
  localSynthesis: Record<string, number>;
  synthesis100: { transferSeconds: number; wallSeconds: number; phases: Record<string, number> };
  handoff25: {
    engineDowntimeSeconds: number | null;
    guestGapSeconds: number | null;
    clientGapSeconds: number | null;
    totalSeconds: number;
    destination: Record<string, number>;
    source: { pausedToMemoryEndMs: number | null; memoryCheck: { pages: number; resent: number; ms: number } | null; finalDiskPassMs: number | null; pausedToEndMs: number | null };
    bytes: number;
  };
  pss: { totalMiB: number; guestRamMiB: number; perInstanceMiB: number[] };
}

interface SizeRow {
  memoryMiB: number;
  workingSetMiB: number;
  overlayBytes: number;
  /** Memory pages the overlay names (the pages that differ from the base), per instance. */
  changedPages: number;
  paths: Record<PathName, PathResult>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** PSS of a VM's QEMU, whole and of its guest RAM mapping alone (the memory image's mapping, or the anonymous RAM). */
function pssOf(domain: string, ramBytes: number): { total: number; ram: number } {
  const pid = qemuPids(domain)[0];
  const total = Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]) * 1024;
  let ram = 0;
  const smaps = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
  for (const vma of smaps) {
    const [lo, hi] = vma
      .split(' ')[0]
      .split('-')
      .map((h) => parseInt(h, 16));
    if (hi - lo !== ramBytes) continue;
    ram += Number(/^Pss:\s+(\d+) kB/m.exec(vma)![1]) * 1024;
  }
  return { total, ram };
}

async function measurePath(which: PathName, g: GuestArtifacts, host: TestEngine, ns: TestEngine, baseId: string, overlay: string, overlayUrl: string, work: string): Promise<PathResult> {
  const ramBytes = g.manifest.memoryMiB * MiB;
  const log = (s: string) => process.stderr.write(`bench: ${g.manifest.memoryMiB} MiB, ${which} path: ${s}\n`);

  log('local synthesis (restore time)');
  let best: Record<string, number> | null = null;
  for (let i = 0; i < 2; i++) {
    const op = await host.opOk((api) => api.instances.create({ name: `restore-${which}-${i}`, baseId, overlay: { url: overlay } }), 'local synthesis');
    const inst = await host.instances.get(op.target!.id);
    if (!best || inst.timings.vmRestore < best.vmRestore) best = inst.timings;
    const marker = await host.instances.exec(inst.id, { command: 'cat /data/marker' });
    if (marker.stdout.trim() !== g.manifest.customMarker) throw new Error(`the synthesized VM lacks its customization: ${marker.stdout}`);
    await host.instances.delete(inst.id);
  }

  // A fresh engine's first synthesis waits seconds for libvirt's first answer about QEMU's capabilities
  // (asked once per engine): have it asked before the timed synthesis.
  const warm = await ns.opOk((api) => api.instances.create({ name: `warm-${which}`, baseId }), 'warm-up resume');
  await ns.instances.delete(warm.target!.id);

  log('synthesis at 100 Mbit/s');
  shape(100);
  const dl = fs.mkdtempSync(path.join(work, 'dl-'));
  const transferSeconds = await fetchInNs([overlayUrl], dl);
  fs.rmSync(dl, { recursive: true, force: true });
  const t0 = Date.now();
  const syn = await ns.opOk((api) => api.instances.create({ name: `synth-${which}`, baseId, overlay: { url: overlayUrl } }), 'synthesis at 100 Mbit/s');
  const wallSeconds = (Date.now() - t0) / 1000;
  const synInst = await ns.instances.get(syn.target!.id);
  await ns.instances.delete(synInst.id);

  log('handoff at 25 Mbit/s');
  shape(25);
  const moving = await host.opOk((api) => api.instances.create({ name: `moving-${which}`, baseId, overlay: { url: overlay }, ports: [{ guest: 80 }] }), 'synthesis to move');
  const id = moving.target!.id;
  const watched = await observedHandoff({ source: host, destination: ns, id, sourceEndpoint: host.endpoint, destinationHost: NS_IP, tickerSettleMs: 3000 });
  const done = watched.done;
  if (done.state !== 'succeeded') throw new Error(`handoff failed: ${JSON.stringify(done.error)}`);
  const res = done.result as {
    bytesReceived: number;
    downtimeMs: number | null;
    source: { pausedToMemoryEndMs: number | null; finalDiskPassMs: number | null; pausedToEndMs: number | null; memoryCheck?: { pages: number; resent: number; ms: number } | null };
  };
  const moved = await ns.instances.get(id);
  const marker = await ns.instances.exec(id, { command: 'cat /data/marker' });
  if (marker.stdout.trim() !== g.manifest.customMarker) throw new Error(`the moved VM lacks its customization: ${marker.stdout}`);
  await ns.instances.delete(id);
  shape(null);

  log(`${INSTANCES} instances of the base (PSS)`);
  const ids: string[] = [];
  for (let i = 0; i < INSTANCES; i++) ids.push((await host.opOk((api) => api.instances.create({ name: `pss-${which}-${i}`, baseId, overlay: { url: overlay } }), 'synthesis for PSS')).target!.id);
  await sleep(10000);
  const pss = ids.map((i) => pssOf(`cl-${i}`, ramBytes));
  for (const i of ids) await host.instances.delete(i);

  return {
    restoreSeconds: best!.vmRestore,
    localSynthesis: best!,
    synthesis100: { transferSeconds, wallSeconds, phases: synInst.timings },
    handoff25: {
      engineDowntimeSeconds: res.downtimeMs === null ? null : res.downtimeMs / 1000,
      guestGapSeconds: watched.guestGapSeconds,
      clientGapSeconds: watched.clientGapSeconds,
      totalSeconds: watched.totalSeconds,
      destination: moved.timings,
      // Where the source's part of the pause went (ms): QEMU's last round and the memory check (under TCG)
      // up to the memory's end, the final disk pass, and all of it up to the End record.
      source: {
        pausedToMemoryEndMs: res.source.pausedToMemoryEndMs,
        memoryCheck: res.source.memoryCheck ?? null,
        finalDiskPassMs: res.source.finalDiskPassMs,
        pausedToEndMs: res.source.pausedToEndMs,
      },
      bytes: res.bytesReceived,
    },
    pss: { totalMiB: pss.reduce((a, p) => a + p.total, 0) / MiB, guestRamMiB: pss.reduce((a, p) => a + p.ram, 0) / MiB, perInstanceMiB: pss.map((p) => p.total / MiB) },
  };
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-restore-'));
  const files = new FileServer();
  const rows: SizeRow[] = [];
  let host: TestEngine | undefined;
  let ns: TestEngine | undefined;
  try {
    netnsUp();
    await files.start(HOST_IP);
    for (const size of SIZES) {
      process.stderr.write(`bench: the cloud-style guest at ${size} MiB (built once, then cached)\n`);
      const g = await ensureSizedCloudGuest(size);
      const archive = await baseArchiveOf(g, `cloud-${size}m-base`);
      const overlay = path.join(work, `overlay-${size}.clov`);
      await createOverlay({ baseDisk: g.baseDisk, baseMemory: g.baseMemory, customDisk: g.customDisk, customMemory: g.customMemory, output: overlay });
      const info = await inspectOverlay(overlay);
      const overlayUrl = files.serve(`overlay-${size}.clov`, overlay);
      const hostDir = fs.mkdtempSync(path.join(work, `host-${size}-`));
      const nsDir = fs.mkdtempSync(path.join(work, `ns-${size}-`));
      const paths = {} as Record<PathName, PathResult>;
      // The new path first: its engines' base imports make the memory images.
      for (const which of PATHS) {
        const flags = which === 'old' ? ['--no-ram-mapping'] : [];
        host = new TestEngine(hostDir, flags, [], `${HOST_IP}:7831`);
        ns = new TestEngine(nsDir, flags, IN_NS, `${NS_IP}:7832`);
        await host.boot();
        await ns.boot();
        if (which === PATHS[0]) {
          await host.opOk((api) => api.bases.import({ source: archive.file, sha256: archive.baseId }), 'base import (host)');
          await ns.opOk((api) => api.bases.import({ source: archive.file, sha256: archive.baseId }), 'base import (namespace)');
          // The archive holds the whole disk; it is made again from the guest when needed.
          fs.rmSync(archive.file, { force: true });
        }
        paths[which] = await measurePath(which, g, host, ns, archive.baseId, overlay, overlayUrl, work);
        await host.stop();
        await ns.stop();
      }
      await host!.destroy();
      await ns!.destroy();
      host = ns = undefined;
      fs.rmSync(overlay, { force: true });
      rows.push({ memoryMiB: size, workingSetMiB: size / 2, overlayBytes: info.fileBytes, changedPages: info.memory.entries, paths });
    }
    report(rows);
  } finally {
    await host?.destroy().catch(() => undefined);
    await ns?.destroy().catch(() => undefined);
    await files.stop().catch(() => undefined);
    netnsDown();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function report(rows: SizeRow[]): void {
  const s = (n: number | null) => (n === null ? 'n/a' : `${n.toFixed(2)} s`);
  const mib = (n: number) => `${n.toFixed(0)} MiB`;
  const table = [
    [
      'RAM',
      'restore old / new',
      'synthesis @100 old / new (overlay transfer)',
      'handoff pause @25 old / new: engines',
      'guest',
      'client',
      `PSS of ${INSTANCES} old / new (guest RAM)`,
      `${INSTANCES} x RAM`,
    ],
  ];
  for (const r of rows) {
    // A narrowed run (BENCH_RESTORE_PATHS) has one of the two: the other's columns read n/a.
    const o = r.paths.old as PathResult | undefined;
    const n = r.paths.new;
    const om = (v: number | undefined) => (v === undefined ? 'n/a' : mib(v));
    table.push([
      `${r.memoryMiB} MiB`,
      `${s(o?.restoreSeconds ?? null)} / ${s(n.restoreSeconds)}`,
      `${s(o?.synthesis100.wallSeconds ?? null)} / ${s(n.synthesis100.wallSeconds)} (${s(n.synthesis100.transferSeconds)})`,
      `${s(o?.handoff25.engineDowntimeSeconds ?? null)} / ${s(n.handoff25.engineDowntimeSeconds)}`,
      `${s(o?.handoff25.guestGapSeconds ?? null)} / ${s(n.handoff25.guestGapSeconds)}`,
      `${s(o?.handoff25.clientGapSeconds ?? null)} / ${s(n.handoff25.clientGapSeconds)}`,
      `${om(o?.pss.totalMiB)} / ${mib(n.pss.totalMiB)} (${om(o?.pss.guestRamMiB)} / ${mib(n.pss.guestRamMiB)})`,
      mib(INSTANCES * r.memoryMiB),
    ]);
  }
  const w = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  console.log(`\nRestore from the mapped base memory image (new) vs every page from the save file (old); cloud-style guest, base working set = RAM / 2, TCG, 2 cores\n`);
  for (const r of table) console.log(r.map((c, i) => c.padEnd(w[i])).join('  '));
  for (const r of rows) {
    const src = r.paths.new.handoff25.source;
    const chk = src.memoryCheck;
    console.log(
      `${r.memoryMiB} MiB, new: the source paused to its memory's end ${src.pausedToMemoryEndMs} ms (memory check ${chk ? `${chk.ms} ms, ${chk.pages} pages read, ${chk.resent} sent again` : 'not run'}), final disk pass ${src.finalDiskPassMs} ms, to End ${src.pausedToEndMs} ms`,
    );
  }
  const first = rows.find((r) => r.memoryMiB === 1024);
  const last = rows.find((r) => r.memoryMiB === 4096);
  const ratio = first && last ? last.paths.new.restoreSeconds / first.paths.new.restoreSeconds : null;
  const synthMargins = rows.map((r) => r.paths.new.synthesis100.wallSeconds - r.paths.new.synthesis100.transferSeconds);
  const downtimes = rows.map((r) => r.paths.new.handoff25.guestGapSeconds ?? r.paths.new.handoff25.engineDowntimeSeconds ?? Infinity);
  const pssBounds = rows.map((r) => ({
    size: r.memoryMiB,
    guestRam: r.paths.new.pss.guestRamMiB,
    total: r.paths.new.pss.totalMiB,
    bound: r.memoryMiB + (INSTANCES * r.changedPages * 4096 * 1.2) / MiB,
  }));
  const goals = {
    restore4vs1: { value: ratio, goal: '<= 1.3', met: ratio !== null && ratio <= 1.3 },
    synthesisOverTransfer: { value: Math.max(...synthMargins), goal: '<= 0.5 s at every size', met: synthMargins.every((m) => m <= 0.5) },
    handoffDowntime25: { value: Math.max(...downtimes), goal: '<= 1 s at every size', met: downtimes.every((d) => d <= 1) },
    pss: { value: pssBounds, goal: 'guest RAM PSS of 5 instances <= RAM + changed pages x 1.2', met: pssBounds.every((p) => p.guestRam <= p.bound) },
  };
  const m = (x: { met: boolean }) => (x.met ? 'met' : 'NOT met');
  console.log(
    `\ngoals: restore at 4 GiB / at 1 GiB (new) ${ratio === null ? '-' : ratio.toFixed(2)} (<= 1.3: ${m(goals.restore4vs1)}); synthesis @100 minus transfer (new) at most ${goals.synthesisOverTransfer.value.toFixed(2)} s (<= 0.5 s: ${m(goals.synthesisOverTransfer)}); handoff pause @25 (new, guest-observed) at most ${goals.handoffDowntime25.value.toFixed(2)} s (<= 1 s: ${m(goals.handoffDowntime25)}); PSS (${pssBounds.map((p) => `${p.size} MiB: guest RAM ${p.guestRam.toFixed(0)} MiB, whole QEMUs ${p.total.toFixed(0)} MiB, bound ${p.bound.toFixed(0)} MiB`).join('; ')}) (${m(goals.pss)})`,
  );
  fs.mkdirSync(path.join(ROOT, '.bench'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, '.bench', 'restore.json'), JSON.stringify({ date: new Date().toISOString(), guest: 'cloud (sized)', rows, goals }, null, 2) + '\n');
  console.log('wrote .bench/restore.json');
}

main().catch((e) => {
  process.stderr.write(`bench:restore failed: ${(e as Error).stack ?? e}\n`);
  netnsDown();
  process.exit(1);
});
