// The overlay round trip on a real libvirt/QEMU VM (TCG where there is no KVM). No skipping: without a
// working libvirt the guest build fails and so does this test.

import { overlayRoundTrip } from '../../examples/overlay-roundtrip/roundtrip';

jest.setTimeout(20 * 60 * 1000);

test('tiny guest: rebuilt disk is identical and the rebuilt memory resumes a running VM that carries on', async () => {
  const r = await overlayRoundTrip('tiny');
  // counter kept in guest memory continues from where the customized VM was saved, and keeps counting
  expect(r.counterAfterResume[0]).toBeGreaterThanOrEqual(r.counterAtCustomSave);
  expect(r.counterAfterResume[0]).toBeLessThan(r.counterAtCustomSave + 30);
  expect(r.counterAfterResume[1]).toBeGreaterThan(r.counterAfterResume[0]);
  // the disk changes made before the save are visible to the resumed VM
  expect(r.marker).toMatch(/^customized-/);
  expect(r.diskFileMatches).toBe(true);
  expect(r.appStateMatches).toBe(true);
  // the customization wrote two copies of busybox: both are found in the base's memory or the first copy
  expect(r.stats.diskEarlier + r.stats.diskBaseMemory).toBeGreaterThan(900);
  expect(r.stats.memorySame).toBeGreaterThan(1000);
  expect(r.summary.verified).toBe(true);
});
