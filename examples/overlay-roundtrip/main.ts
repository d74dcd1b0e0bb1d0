// Main job until the quickstart exists: the overlay round trip on the tiny sample VM (built from Debian
// packages on first run and cached), printed as a short report.

import { overlayRoundTrip } from './roundtrip';

async function main(): Promise<void> {
  const r = await overlayRoundTrip('tiny', (s) => console.log(`- ${s}`));
  const ok = r.counterAfterResume[0] >= r.counterAtCustomSave && r.counterAfterResume[1] > r.counterAfterResume[0] && r.diskFileMatches;
  console.log(`
overlay round trip on the "${r.guest}" VM
  overlay            ${(r.overlayBytes / 2 ** 20).toFixed(2)} MiB (created in ${r.createSeconds.toFixed(2)} s, applied in ${r.applySeconds.toFixed(2)} s)
  disk chunks        ${JSON.stringify(r.summary.disk.byKind)}
  memory pages       ${JSON.stringify(r.summary.memory.byKind)}
  rebuilt disk       identical to the customized disk (qemu-img compare)
  resumed VM         running; counter ${r.counterAtCustomSave} at save -> ${r.counterAfterResume.join(' -> ')} after resume
  disk changes       marker ${r.marker}; written file ${r.diskFileMatches ? 'matches' : 'DIFFERS'} (read with caches dropped)
  result             ${ok && r.appStateMatches ? 'OK' : 'FAILED'}`);
  if (!ok || !r.appStateMatches) process.exitCode = 1;
}

main().catch((e) => {
  console.error(`overlay round trip failed: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
});
