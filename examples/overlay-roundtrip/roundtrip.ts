// The overlay round trip on a real VM: make an overlay from a guest's base and customized VM, rebuild the
// customized VM from base + overlay, check the disk is identical, and resume the rebuilt memory snapshot
// as a running VM whose in-memory workload carries on. Used by `npm start` and by the integration tests.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyOverlay, inspectOverlay, OverlaySummary } from '../../engine/overlay/apply';
import { createOverlay, OverlayStats } from '../../engine/overlay/writer';
import { GuestName, ensureGuest, restoreGuest } from '../../test/vms/guest';

export interface RoundTripReport {
  guest: GuestName;
  overlayBytes: number;
  createSeconds: number;
  applySeconds: number;
  stats: OverlayStats;
  summary: OverlaySummary;
  counterAtCustomSave: number;
  counterAfterResume: number[];
  marker: string;
  diskFileMatches: boolean;
  appStateMatches: boolean;
}

export async function overlayRoundTrip(name: GuestName, log: (s: string) => void = () => undefined): Promise<RoundTripReport> {
  const g = await ensureGuest(name);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `roundtrip-${name}-`));
  try {
    const ovl = path.join(work, 'custom.ovl');
    log(`creating overlay from ${g.dir}`);
    const stats = await createOverlay({ baseDisk: g.baseDisk, baseMemory: g.baseMemory, customDisk: g.customDisk, customMemory: g.customMemory, output: ovl });
    const summary = await inspectOverlay(ovl, true);
    const disk = path.join(work, 'rebuilt.qcow2');
    const memory = path.join(work, 'rebuilt.save');
    log(`applying overlay (${(stats.overlayBytes / 2 ** 20).toFixed(2)} MiB)`);
    const applied = await applyOverlay({ overlay: ovl, baseDisk: g.baseDisk, baseMemory: g.baseMemory, outputDisk: disk, outputMemory: memory });
    execFileSync('qemu-img', ['compare', '-q', g.customDisk, disk]); // exit status 1 throws
    log('disk identical (qemu-img compare); resuming the rebuilt memory snapshot');
    const vm = await restoreGuest({ memory, disk, workDir: path.join(work, 'vm') });
    try {
      const st = await vm.state();
      if (!st.startsWith('running')) throw new Error(`rebuilt VM is ${st}, not running`);
      const c1 = await vm.counter();
      await new Promise((r) => setTimeout(r, 2500));
      const c2 = await vm.counter();
      // Read the customization's disk changes back from the disk itself, not the guest's page cache.
      await vm.execOk('sync; echo 3 > /proc/sys/vm/drop_caches');
      const marker = (await vm.execOk('cat /data/marker')).trim();
      const diskFileMatches = (await vm.execOk(`md5sum ${g.manifest.diskFile}`)).split(' ')[0] === g.manifest.diskFileMd5;
      // Application state that lived only in the customized VM's memory (tmpfs), against its recorded digest.
      const appState = (await vm.execOk('md5sum /run/app-state')).split(' ')[0];
      let appStateMatches = appState === g.manifest.appStateMd5;
      if (name === 'realistic') {
        // the web service started before the save is still running in the resumed VM
        const page = await vm.execOk(`python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/index.html', timeout=60).read().decode())"`, 120000);
        appStateMatches &&= page.includes('cloudlet app');
      }
      return {
        guest: name,
        overlayBytes: stats.overlayBytes,
        createSeconds: stats.seconds,
        applySeconds: applied.seconds,
        stats,
        summary,
        counterAtCustomSave: g.manifest.counterAtCustomSave,
        counterAfterResume: [c1, c2],
        marker,
        diskFileMatches,
        appStateMatches,
      };
    } finally {
      await vm.destroy();
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
