// `npm run bench:handoff`: live handoff of the cloud-style guest (BENCH_GUEST picks another) between two real engines, the source on the
// host and the destination in a network namespace behind a veth link shaped by tc to 10, 25 and 100 Mbit/s,
// against the naive path in the same run (stop the VM, copy its full disk and memory image over the same
// link, restore). Prints a table and writes .bench/handoff.json.
//
// Measured per link: total time (from asking the destination to the VM running there), downtime (the
// engines' figure: source paused → destination resumed; as the guest shows it: the gap in a 100 ms ticker
// the guest writes to its serial console, timed by the host as the console files grow; and as a network
// client sees it: the longest gap between answers to a client on the host polling the application every
// 100 ms through its published ports, at the source's endpoint and at the destination's), bytes sent,
// and "state dirtied since synthesis" = (size of an overlay made from the moved VM) − (size of the overlay
// it was synthesized from), both made by the same codec.
//
// Goals (issue 6): bytes sent <= 1.2 x (overlay + dirtied); total >= 5 x faster than naive at 25 Mbit/s;
// downtime <= 5 s at 25 Mbit/s.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createOverlay } from '../../engine/overlay/writer';
import { repoRoot } from '../../provider/build';
import { FileServer, TestEngine } from '../helpers/engine';
import { ensureBaseArchive, ensureGuest, restoreGuest } from '../vms/guest';
import { HOST_IP, IN_NS, NS_IP, fetchInNs, netnsDown, netnsUp, shape } from './netns';
import { BENCH_GUEST, guestLabel } from './bench-guest';
import { observedHandoff } from './observe';

const ROOT = repoRoot();
const LINKS = (process.env.BENCH_LINKS ?? '10,25,100').split(',').map(Number);

interface Row {
  mbit: number;
  handoff: {
    totalSeconds: number;
    downtimeSeconds: number | null;
    guestGapSeconds: number | null;
    /** The longest time a client polling the app through its published ports got no answer from either endpoint. */
    clientGapSeconds: number | null;
    clientPolls: number;
    bytesSent: number;
    levels: Record<string, number>;
    phases: Record<string, number>;
    literalChunks: number;
    /** The source's own figures (chunk counts, QEMU's migration statistics, time from pause to end). */
    source: Record<string, unknown>;
  };
  overlayBytes: number;
  afterOverlayBytes: number;
  dirtiedBytes: number;
  bytesRatio: number;
  naive: { bytes: number; saveSeconds: number; transferSeconds: number; restoreSeconds: number; totalSeconds: number };
  speedup: number;
}

async function main(): Promise<void> {
  const g = await ensureGuest(BENCH_GUEST);
  const { file: archive, baseId } = await ensureBaseArchive(BENCH_GUEST);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-handoff-'));
  let a: TestEngine | undefined;
  let b: TestEngine | undefined;
  const files = new FileServer();
  try {
    process.stderr.write('bench: building the overlay\n');
    const overlay = path.join(work, 'overlay.clov');
    await createOverlay({ baseDisk: g.baseDisk, baseMemory: g.baseMemory, customDisk: g.customDisk, customMemory: g.customMemory, output: overlay });
    const overlayBytes = fs.statSync(overlay).size;

    netnsUp();
    await files.start(HOST_IP);
    a = await TestEngine.start('bench-src', [], [], `${HOST_IP}:7811`);
    b = await TestEngine.start('bench-dst', [], IN_NS, `${NS_IP}:7812`);
    await Promise.all([
      a.opOk((api) => api.bases.import({ source: archive, sha256: baseId }), 'base import on a'),
      b.opOk((api) => api.bases.import({ source: archive, sha256: baseId }), 'base import on b'),
    ]);

    const rows: Row[] = [];
    for (const mbit of LINKS) {
      process.stderr.write(`bench: ${mbit} Mbit/s: handoff\n`);
      shape(mbit);
      const syn = await a.opOk((api) => api.instances.create({ name: `moving-${mbit}`, baseId, overlay: { url: overlay }, ports: [{ guest: 80 }] }), 'synthesis');
      const id = syn.target!.id;
      const watched = await observedHandoff({ source: a, destination: b, id, sourceEndpoint: `http://${HOST_IP}:7811`, destinationHost: NS_IP, tickerSettleMs: 5000 });
      const { done, totalSeconds, guestGapSeconds: guestGap, clientGapSeconds: clientGap } = watched;
      if (done.state !== 'succeeded') throw new Error(`handoff at ${mbit} Mbit/s failed: ${JSON.stringify(done.error)}`);
      const res = done.result as { bytesReceived: number; downtimeMs: number | null; source: { levels: Record<string, number>; disk: { literal: number }; memory: { literal: number } } };
      const marker = await b.instances.exec(id, { command: 'cat /data/marker' });
      if (marker.stdout.trim() !== g.manifest.customMarker) throw new Error(`the moved VM lacks its customization: ${marker.stdout}`);

      // What the VM holds now, beyond the base, by the same codec: the dirtied state is what grew.
      const after = await b.opOk((api) => api.overlays.import({ instanceId: id }), 'overlay of the moved VM');
      const afterOverlay = (after.result as { overlay: { id: string; bytes: number } }).overlay;
      await b.overlays.delete(afterOverlay.id);
      await b.instances.delete(id);
      const dirtied = Math.max(0, afterOverlay.bytes - overlayBytes);

      process.stderr.write(`bench: ${mbit} Mbit/s: naive (stop, copy, restore)\n`);
      const naive = await naivePath(g, work, files);
      rows.push({
        mbit,
        handoff: {
          totalSeconds,
          downtimeSeconds: res.downtimeMs === null ? null : res.downtimeMs / 1000,
          guestGapSeconds: guestGap,
          clientGapSeconds: clientGap,
          clientPolls: watched.clientPolls,
          bytesSent: res.bytesReceived,
          levels: res.source.levels,
          phases: done.timings,
          literalChunks: res.source.disk.literal + res.source.memory.literal,
          source: res.source,
        },
        overlayBytes,
        afterOverlayBytes: afterOverlay.bytes,
        dirtiedBytes: dirtied,
        bytesRatio: res.bytesReceived / (overlayBytes + dirtied),
        naive,
        speedup: naive.totalSeconds / totalSeconds,
      });
    }
    shape(null);
    report(rows, guestLabel(g));
  } finally {
    await Promise.all([a?.destroy().catch(() => undefined), b?.destroy().catch(() => undefined)]);
    await files.stop().catch(() => undefined);
    netnsDown();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The naive path for the same guest over the same link: stop it (save its memory), make its disk one
 * standalone image, copy both into the namespace, restore there. The VM is down the whole time.
 */
async function naivePath(g: Awaited<ReturnType<typeof ensureGuest>>, work: string, files: FileServer): Promise<Row['naive']> {
  const dir = fs.mkdtempSync(path.join(work, 'naive-'));
  const disk = path.join(dir, 'layer.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', g.customDisk, disk]);
  const vm = await restoreGuest({ memory: g.customMemory, disk, workDir: path.join(dir, 'src') });
  await new Promise((r) => setTimeout(r, 3000));
  const t0 = Date.now();
  const memFile = path.join(dir, 'memory.save');
  await vm.save(memFile);
  const fullDisk = path.join(dir, 'disk.qcow2');
  execFileSync('qemu-img', ['convert', '-O', 'qcow2', disk, fullDisk]);
  const saveSeconds = (Date.now() - t0) / 1000;
  const dl = fs.mkdtempSync(path.join(dir, 'dl-'));
  const transferSeconds = await fetchInNs([files.serve(`naive-${path.basename(dir)}-disk.qcow2`, fullDisk), files.serve(`naive-${path.basename(dir)}-memory.save`, memFile)], dl);
  const r0 = Date.now();
  const moved = await restoreGuest({ memory: path.join(dl, `naive-${path.basename(dir)}-memory.save`), disk: path.join(dl, `naive-${path.basename(dir)}-disk.qcow2`), workDir: path.join(dir, 'dst') });
  const restoreSeconds = (Date.now() - r0) / 1000;
  const totalSeconds = (Date.now() - t0) / 1000;
  const marker = (await moved.execOk('cat /data/marker')).trim();
  await moved.destroy();
  if (marker !== g.manifest.customMarker) throw new Error('the naive copy lacks the customization');
  const bytes = fs.statSync(fullDisk).size + fs.statSync(memFile).size;
  fs.rmSync(dir, { recursive: true, force: true });
  return { bytes, saveSeconds, transferSeconds, restoreSeconds, totalSeconds };
}

function report(rows: Row[], guest: string): void {
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const s = (n: number | null) => (n === null ? 'n/a' : `${n.toFixed(2)} s`);
  const table = [['link', 'handoff total', 'downtime (engines / guest / client)', 'bytes sent', 'overlay + dirtied', 'ratio', 'naive total (stop+copy / xfer / restore)', 'naive bytes', 'speedup']];
  for (const r of rows) {
    table.push([
      `${r.mbit} Mbit/s`,
      s(r.handoff.totalSeconds),
      `${s(r.handoff.downtimeSeconds)} / ${s(r.handoff.guestGapSeconds)} / ${s(r.handoff.clientGapSeconds)}`,
      mib(r.handoff.bytesSent),
      `${mib(r.overlayBytes)} + ${mib(r.dirtiedBytes)}`,
      `${r.bytesRatio.toFixed(2)}x`,
      `${s(r.naive.totalSeconds)} (${s(r.naive.saveSeconds)} / ${s(r.naive.transferSeconds)} / ${s(r.naive.restoreSeconds)})`,
      mib(r.naive.bytes),
      `${r.speedup.toFixed(1)}x`,
    ]);
  }
  const w = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  console.log(`\nVM handoff, ${guest} (TCG, 2 cores), source on the host, destination behind a tc-shaped veth\n`);
  for (const r of table) console.log(r.map((c, i) => c.padEnd(w[i])).join('  '));
  console.log('\ncompression levels used (batches per zstd level; 0 = none):');
  for (const r of rows)
    console.log(
      `  ${r.mbit} Mbit/s: ${Object.entries(r.handoff.levels)
        .map(([l, n]) => `${l}: ${n}`)
        .join(', ')}`,
    );
  const at25 = rows.find((r) => r.mbit === 25);
  const goals = {
    bytesWithin1_2: { value: Math.max(...rows.map((r) => r.bytesRatio)), goal: '<= 1.2 at every link', met: rows.every((r) => r.bytesRatio <= 1.2) },
    speedupAt25: at25 ? { value: at25.speedup, goal: '>= 5', met: at25.speedup >= 5 } : null,
    downtimeAt25: at25
      ? { value: at25.handoff.guestGapSeconds ?? at25.handoff.downtimeSeconds, goal: '<= 5 s', met: (at25.handoff.guestGapSeconds ?? at25.handoff.downtimeSeconds ?? Infinity) <= 5 }
      : null,
  };
  const m = (x: { met: boolean } | null) => (x === null ? 'not measured' : x.met ? 'met' : 'NOT met');
  console.log(
    `\ngoals: bytes sent / (overlay + dirtied) at most ${goals.bytesWithin1_2.value.toFixed(2)} (<= 1.2: ${m(goals.bytesWithin1_2)}); speedup at 25 Mbit/s ${at25 ? at25.speedup.toFixed(1) : '-'}x (>= 5: ${m(goals.speedupAt25)}); downtime at 25 Mbit/s ${at25 ? s(goals.downtimeAt25!.value) : '-'} (<= 5 s: ${m(goals.downtimeAt25)})`,
  );
  fs.mkdirSync(path.join(ROOT, '.bench'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, '.bench', 'handoff.json'), JSON.stringify({ date: new Date().toISOString(), guest: BENCH_GUEST, rows, goals }, null, 2) + '\n');
  console.log('wrote .bench/handoff.json');
}

main().catch((e) => {
  process.stderr.write(`bench:handoff failed: ${(e as Error).stack ?? e}\n`);
  netnsDown();
  process.exit(1);
});
