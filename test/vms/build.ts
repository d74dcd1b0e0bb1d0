// `npm run guests -- NAME`: builds (or finds) a cached test guest and its base archive, and prints the
// guest's directory, then the archive path and base id, on the last two lines.
import { GuestName, ensureBaseArchive, ensureGuest } from './guest';

const name = process.argv[2] as GuestName;
if (name !== 'tiny' && name !== 'realistic') {
  process.stderr.write('usage: build tiny|realistic\n');
  process.exit(2);
}
(async () => {
  const g = await ensureGuest(name);
  const a = await ensureBaseArchive(name);
  process.stdout.write(`${g.dir}\n${a.file} ${a.baseId}\n`);
})().catch((e) => {
  process.stderr.write(`guests: build failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
