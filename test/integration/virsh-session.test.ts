// The long-lived virsh session against a real virsh: a command's output comes back exactly, whatever the
// command's length (readline wraps the echoed line at 80 columns, and at the exact boundary redraws it with
// cursor escapes, which once made a ping's answer unreadable).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VirshSession, prepareEmbedRoot } from '../../engine/vm/virsh';

test('echo of every length from 1 to 300 characters, and one of 100 KiB, comes back exactly', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'clv-echo-'));
  const v = new VirshSession(prepareEmbedRoot(root));
  try {
    for (let n = 1; n <= 300; n++) {
      const text = 'x'.repeat(n);
      expect({ n, out: (await v.run(`echo ${text}`)).trim() }).toEqual({ n, out: text });
    }
    const big = 'y'.repeat(100 * 1024);
    expect((await v.run(`echo ${big}`)).trim()).toBe(big);
  } finally {
    await v.close(true);
  }
}, 120000);
