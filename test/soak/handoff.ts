// Handoff soak: fresh tiny instances (no overlay, RAM mapped from the base's image) handed from engine a to b and
// back, round after round, with a process dirtying memory in the guest; after every hop the guest's counter must
// not have gone back (a guest that crashed and rebooted starts it again at 1) and its agent must answer.
// Each hop prints the source's memory check (engine/handoff/sender.ts): pages read, and how many QEMU's
// pre-copy had sent stale. A failed hop keeps the guest console and both engine logs in .soak/. Not part of
// `npm test`: it is a search for rare failures (`npm run soak:handoff`, SOAK_ROUNDS=25 by default, two hops a round, about 7 minutes;
// SOAK_ENGINE_ARGS adds engine flags).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../../provider/build';
import { TestEngine } from '../helpers/engine';
import { ensureBaseArchive } from '../vms/guest';

const DIRTIER = '(while :; do head -c 4000000 /dev/urandom > /run/dirty; sleep 0.2; done) </dev/null >/dev/null 2>&1 &';

async function shell(e: TestEngine, id: string, cmd: string): Promise<string> {
  const r = await e.instances.exec(id, { command: cmd });
  if (r.code !== 0) throw new Error(`"${cmd}" exited with ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

async function main(): Promise<void> {
  const rounds = Number(process.env.SOAK_ROUNDS ?? 25);
  const out = path.join(repoRoot(), '.soak');
  fs.mkdirSync(out, { recursive: true });
  const base = await ensureBaseArchive('tiny');
  // SOAK_ENGINE_ARGS: extra `engine serve` flags for both engines (say, --no-ram-mapping).
  const extra = (process.env.SOAK_ENGINE_ARGS ?? '').split(' ').filter((x) => x !== '');
  const [a, b] = await Promise.all([TestEngine.start('soaka', extra), TestEngine.start('soakb', extra)]);
  let failures = 0;
  let hops = 0;
  let resentHops = 0;
  try {
    for (const e of [a, b]) await e.opOk((api) => api.bases.import({ source: base.file, sha256: base.baseId }), 'base import');
    for (let round = 0; round < rounds; round++) {
      const created = await a.opOk((api) => api.instances.create({ name: `soak${round}`, baseId: base.baseId }), 'create');
      const id = (created.result as { instance: { id: string } }).instance.id;
      await shell(a, id, DIRTIER);
      let [at, to] = [a, b];
      for (let hop = 0; hop < 2; hop++) {
        const before = Number(await shell(at, id, 'cat /run/counter'));
        const grant = await at.instances.handoffToken(id, {});
        const moved = await to.opOk((api) => api.handoffs.create({ source: { endpoint: at.endpoint, token: grant.token }, instanceId: id }), 'handoff');
        const moveResult = moved.result as { downtimeMs: number | null; source: { memoryCheck?: { pages: number; resent: number; ms: number } | null } };
        const check = moveResult.source.memoryCheck;
        [at, to] = [to, at];
        await to.waitInstanceGone(id);
        let after = -1;
        let why = '';
        try {
          after = Number(await shell(at, id, 'cat /run/counter'));
        } catch (e) {
          why = (e as Error).message;
        }
        const ok = after >= before;
        hops++;
        const checked = check ? `, memory check read ${check.pages} pages, sent ${check.resent} again (${check.ms} ms)` : ', no memory check';
        if (check?.resent) resentHops++;
        console.log(`round ${round} hop ${hop}: counter ${before} -> ${after}, paused ${moveResult.downtimeMs} ms${checked}${ok ? '' : ` FAILED ${why}`}`);
        if (!ok) {
          failures++;
          const con = at.consolePath(id);
          const file = path.join(out, `handoff-${round}-${hop}.txt`);
          fs.writeFileSync(
            file,
            `counter ${before} -> ${after} ${why}\n--- guest console\n${fs.existsSync(con) ? fs.readFileSync(con, 'utf8') : '(none)'}\n--- destination log\n${at.log}\n--- source log\n${to.log}\n`,
          );
          console.log(`  kept in ${file}`);
          break; // the guest is rebooting: this round's next hop would only time out
        }
      }
      await at.instances.delete(id);
    }
  } finally {
    await Promise.all([a.destroy(), b.destroy()]);
  }
  console.log(`${hops} handoffs, ${failures} failed; in ${resentHops} the memory check found pages QEMU's pre-copy had missed`);
  process.exitCode = failures > 0 ? 1 : 0;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
