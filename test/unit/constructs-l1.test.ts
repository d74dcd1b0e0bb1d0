// The committed L1 bindings (constructs/generated) must be what cdktf's generator makes from the provider's
// current schema; when the schema changes, `npm run generate` brings them up to date and this test says so.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GENERATED_DIR, generateBindings, readTree } from '../../constructs/generate';
import { repoRoot } from '../../provider/build';

jest.setTimeout(180000);

test('the committed L1 bindings match a fresh cdktf get from the provider schema', async () => {
  const root = repoRoot();
  const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'l1-'));
  try {
    await generateBindings(path.join(fresh, 'out'), root);
    const want = readTree(path.join(fresh, 'out'));
    const have = readTree(path.join(root, GENERATED_DIR));
    expect(want.size).toBeGreaterThan(5);
    const stale = [...new Set([...want.keys(), ...have.keys()])].filter((f) => want.get(f) !== have.get(f));
    if (stale.length > 0) throw new Error(`constructs/generated is stale against the provider schema (${stale.join(', ')}): run npm run generate`);
    // The bindings carry every resource and data source the provider serves.
    for (const f of ['base-vm', 'overlay', 'customization', 'instance', 'data-cloudlet-engine', 'data-cloudlet-base-vm', 'provider']) expect(have.has(`providers/cloudlet/${f}/index.ts`)).toBe(true);
  } finally {
    fs.rmSync(fresh, { recursive: true, force: true });
  }
});
