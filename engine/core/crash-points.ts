// Crash injection for the crash-point harness (test/integration/crash-points.test.ts). With
// CLOUDLET_CRASH_AT="<point>[:<n>]" in its environment the engine SIGKILLs itself the n-th time (default the
// first) it passes that point: the same as a `kill -9` from outside at an exact place, so each recovery path
// can be driven on purpose. CLOUDLET_CRASH_TRACE=<file> appends every point passed, so the harness can tell
// a point that was never reached from one that was survived. Without either variable a point costs one
// comparison.

import * as fs from 'node:fs';

/** Every crash point, by operation. The harness kills the engine at each of them. */
export const CRASH_POINTS = {
  'import-base': ['import-base.download', 'import-base.verify', 'import-base.commit'],
  resume: ['synthesize.prepare', 'synthesize.restore', 'synthesize.restored'],
  'create-overlay': [
    'whilepaused.save',
    'whilepaused.saved',
    'whilepaused.work',
    'create-overlay.delta-chunk',
    'create-overlay.stored',
    'whilepaused.restore',
    'whilepaused.restored',
    'whilepaused.consumed',
  ],
  synthesize: ['synthesize.fetch-chunk', 'synthesize.fetched', 'synthesize.committed', 'synthesize.apply', 'synthesize.restore', 'synthesize.restored'],
  'handoff-out': ['handoff-out.marked', 'handoff-out.sent', 'handoff-out.confirmed'],
  'handoff-in': ['handoff-in.created', 'handoff-in.received', 'handoff-in.restored', 'handoff-in.confirmed'],
} as const;

const wanted = process.env.CLOUDLET_CRASH_AT ?? '';
const trace = process.env.CLOUDLET_CRASH_TRACE ?? '';
const [wantedPoint, wantedCount] = wanted.split(':');
const killAt = Number(wantedCount ?? '1') || 1;
let passes = 0;

export function crashPoint(name: string): void {
  if (!wanted && !trace) return;
  if (trace) fs.appendFileSync(trace, `${name}\n`);
  if (name !== wantedPoint || ++passes < killAt) return;
  process.kill(process.pid, 'SIGKILL');
}
