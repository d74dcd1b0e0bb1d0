// `npm run bench:synthesis`: VM synthesis on the cloud-style guest (BENCH_GUEST picks another), end to end through a real engine that runs
// in its own network namespace and fetches the overlay over HTTP from the host, against the no-overlay path
// (download the customized VM's full disk and memory image, then restore them), at an unshaped veth link and
// at 100 Mbit/s (tc tbf on the host side of the veth). Prints a table and writes .bench/synthesis.json.
//
// Goals (issue 3): synthesis >= 5x faster than the no-overlay path at 100 Mbit/s, and end-to-end within
// 1.3 x (overlay transfer time at link speed + restore time), which needs apply-while-downloading.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createOverlay } from '../../engine/overlay/writer';
import { repoRoot } from '../../provider/build';
import { FileServer, TestEngine } from '../helpers/engine';
import { ensureBaseArchive, ensureGuest, restoreGuest } from '../vms/guest';
import { BENCH_GUEST, guestLabel } from './bench-guest';
import { HOST_IP, IN_NS, NS_IP, fetchInNs, netnsDown, netnsUp, shape } from './netns';

const ROOT = repoRoot();
interface LinkResult {
  link: string;
  overlayBytes: number;
  overlayTransferSeconds: number;
  synthesis: { wallSeconds: number; phases: Record<string, number> };
  boundSeconds: number;
  boundRatio: number;
  naive: { bytes: number; transferSeconds: number; restoreSeconds: number; totalSeconds: number };
  speedup: number;
}

async function main(): Promise<void> {
  const g = await ensureGuest(BENCH_GUEST);
  const { file: archive, baseId } = await ensureBaseArchive(BENCH_GUEST);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-synth-'));
  let engine: TestEngine | undefined;
  const files = new FileServer();
  try {
    process.stderr.write('bench: building the overlay and the no-overlay files\n');
    const overlay = path.join(work, 'overlay.clov');
    await createOverlay({ baseDisk: g.baseDisk, baseMemory: g.baseMemory, customDisk: g.customDisk, customMemory: g.customMemory, output: overlay });
    // The no-overlay path ships the customized VM as it is: its disk as one standalone image (allocated data
    // only, no base needed) and its memory image.
    const fullDisk = path.join(work, 'full-disk.qcow2');
    execFileSync('qemu-img', ['convert', '-O', 'qcow2', g.customDisk, fullDisk]);
    const fullMemory = path.join(work, 'full-memory.save');
    fs.copyFileSync(g.customMemory, fullMemory);

    netnsUp();
    await files.start(HOST_IP);
    const overlayUrl = files.serve('overlay.clov', overlay);
    const naiveUrls = [files.serve('full-disk.qcow2', fullDisk), files.serve('full-memory.save', fullMemory)];
    engine = await TestEngine.start('bench', [], IN_NS, `${NS_IP}:7800`);
    await engine.opOk((api) => api.bases.import({ source: archive, sha256: baseId }), 'base import');

    const results: LinkResult[] = [];
    for (const link of [null, 100] as const) {
      const label = link === null ? 'unshaped veth' : `${link} Mbit/s`;
      process.stderr.write(`bench: ${label}\n`);
      shape(link);
      const dlDir = fs.mkdtempSync(path.join(work, 'dl-'));
      const overlayTransferSeconds = await fetchInNs([overlayUrl], dlDir);

      const t0 = Date.now();
      const syn = await engine.op((api) => api.instances.create({ name: `synth-${link ?? 'fast'}`, baseId, overlay: { url: overlayUrl } }));
      const wallSeconds = (Date.now() - t0) / 1000;
      if (syn.state !== 'succeeded') throw new Error(`synthesis failed: ${JSON.stringify(syn.error)}`);
      const probe = await engine.instances.exec(syn.target!.id, { command: 'cat /data/marker' });
      if (probe.stdout.trim() !== g.manifest.customMarker) throw new Error(`synthesized VM lacks the customization: ${probe.stdout}`);
      await engine.instances.delete(syn.target!.id);

      const naiveTransfer = await fetchInNs(naiveUrls, dlDir);
      const r0 = Date.now();
      const vm = await restoreGuest({ memory: path.join(dlDir, 'full-memory.save'), disk: path.join(dlDir, 'full-disk.qcow2'), workDir: path.join(dlDir, 'run') });
      const restoreSeconds = (Date.now() - r0) / 1000;
      const marker = (await vm.execOk('cat /data/marker')).trim();
      await vm.destroy();
      if (marker !== g.manifest.customMarker) throw new Error('the no-overlay restore lacks the customization');
      fs.rmSync(dlDir, { recursive: true, force: true });

      const restorePhase = syn.timings.restore ?? 0;
      const bound = overlayTransferSeconds + restorePhase;
      const naiveTotal = naiveTransfer + restoreSeconds;
      results.push({
        link: label,
        overlayBytes: fs.statSync(overlay).size,
        overlayTransferSeconds,
        synthesis: { wallSeconds, phases: syn.timings },
        boundSeconds: bound,
        boundRatio: wallSeconds / bound,
        naive: { bytes: fs.statSync(fullDisk).size + fs.statSync(fullMemory).size, transferSeconds: naiveTransfer, restoreSeconds, totalSeconds: naiveTotal },
        speedup: naiveTotal / wallSeconds,
      });
    }
    shape(null);

    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    const s = (n: number) => `${n.toFixed(2)} s`;
    const rows = [['link', 'overlay', 'xfer alone', 'synthesis (fetch / apply / restore)', 'bound', 'ratio', 'no-overlay (xfer + restore)', 'speedup']];
    for (const r of results) {
      rows.push([
        r.link,
        mib(r.overlayBytes),
        s(r.overlayTransferSeconds),
        `${s(r.synthesis.wallSeconds)} (${s(r.synthesis.phases.fetch ?? 0)} / ${s(r.synthesis.phases.apply ?? 0)} / ${s(r.synthesis.phases.restore ?? 0)})`,
        s(r.boundSeconds),
        `${r.boundRatio.toFixed(2)}x`,
        `${s(r.naive.totalSeconds)} (${mib(r.naive.bytes)}: ${s(r.naive.transferSeconds)} + ${s(r.naive.restoreSeconds)})`,
        `${r.speedup.toFixed(1)}x`,
      ]);
    }
    const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    console.log(`\nVM synthesis, ${guestLabel(g)} (TCG, 2 cores); bound = overlay transfer alone + restore phase\n`);
    for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i])).join('  '));
    const at100 = results[1];
    const goals = {
      speedupAt100Mbit: { value: at100.speedup, goal: '>= 5', met: at100.speedup >= 5 },
      boundRatioAt100Mbit: { value: at100.boundRatio, goal: '<= 1.3', met: at100.boundRatio <= 1.3 },
    };
    console.log(
      `\ngoals: speedup at 100 Mbit/s ${at100.speedup.toFixed(1)}x (>= 5: ${goals.speedupAt100Mbit.met ? 'met' : 'NOT met'}); end-to-end / bound ${at100.boundRatio.toFixed(2)} (<= 1.3: ${goals.boundRatioAt100Mbit.met ? 'met' : 'NOT met'})`,
    );
    fs.mkdirSync(path.join(ROOT, '.bench'), { recursive: true });
    fs.writeFileSync(path.join(ROOT, '.bench', 'synthesis.json'), JSON.stringify({ date: new Date().toISOString(), guest: BENCH_GUEST, results, goals }, null, 2) + '\n');
    console.log('wrote .bench/synthesis.json');
  } finally {
    await engine?.destroy().catch(() => undefined);
    await files.stop().catch(() => undefined);
    netnsDown();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench:synthesis failed: ${(e as Error).stack ?? e}\n`);
  netnsDown();
  process.exit(1);
});
