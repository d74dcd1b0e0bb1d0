// `npm run guests -- NAME [--archive]`: builds (or finds) a cached test guest and prints its directory on the
// last line; with --archive, also writes its base archive (the format `cloudlet base import` reads).
import { GuestName, ensureBaseArchive, ensureGuest } from './guest';

const name = process.argv[2] as GuestName;
if (name !== 'tiny' && name !== 'realistic' && name !== 'cloud') {
  process.stderr.write('usage: build tiny|realistic|cloud [--archive]\n');
  process.exit(2);
}
(async () => {
  const g = await ensureGuest(name);
  if (process.argv.includes('--archive')) {
    const a = await ensureBaseArchive(name);
    process.stderr.write(`guests: base archive ${a.file} (base ${a.baseId})\n`);
  }
  process.stdout.write(`${g.dir}\n`);
})().catch((e) => {
  process.stderr.write(`guests: build failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
