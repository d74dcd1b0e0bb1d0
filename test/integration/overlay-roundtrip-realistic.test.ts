// The overlay round trip on the realistic guest: Debian minbase root disk, python3 installed in the running
// VM with dpkg, a web service started before the save. Building the guest takes several minutes the first
// time (cached afterwards).

import { overlayRoundTrip } from '../../examples/overlay-roundtrip/roundtrip';

jest.setTimeout(40 * 60 * 1000);

test('realistic guest: identical disk, resumed VM keeps its counter, its data and its running web service', async () => {
  const r = await overlayRoundTrip('realistic');
  expect(r.counterAfterResume[0]).toBeGreaterThanOrEqual(r.counterAtCustomSave);
  expect(r.counterAfterResume[1]).toBeGreaterThan(r.counterAfterResume[0]);
  expect(r.marker).toMatch(/^customized-/);
  expect(r.diskFileMatches).toBe(true);
  expect(r.appStateMatches).toBe(true); // includes an answer from the web service started before the save
  expect(r.summary.verified).toBe(true);
  // the installed packages' files sit in the guest's page cache: memory pages dedup against the disk layer
  expect(r.stats.memoryEarlier + r.stats.memoryBaseDisk).toBeGreaterThan(1000);
});
