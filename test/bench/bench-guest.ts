// Which guest the overlay, synthesis and handoff benchmarks run on: the cloud-style guest by default (a Debian
// cloud image booted by its own GRUB, 1 GiB RAM, nginx + Python + a 56 MiB SQLite database), or another of the
// test guests with BENCH_GUEST=tiny|realistic, to compare with figures measured before.

import { GuestArtifacts, GuestName } from '../vms/guest';

export const BENCH_GUEST = (process.env.BENCH_GUEST ?? 'cloud') as GuestName;

/** "cloud guest (1024 MiB RAM, 4.0 GiB disk)", for the tables' titles. */
export function guestLabel(g: GuestArtifacts): string {
  const disk = g.manifest.diskBytes >= 2 ** 30 ? `${(g.manifest.diskBytes / 2 ** 30).toFixed(1)} GiB` : `${Math.round(g.manifest.diskBytes / 2 ** 20)} MiB`;
  return `${g.manifest.name} guest (${g.manifest.memoryMiB} MiB RAM, ${disk} disk)`;
}
