// `npm run guests -- NAME`: builds (or finds) a cached test guest and prints its directory on the last line.
import { GuestName, ensureGuest } from './guest';

const name = process.argv[2] as GuestName;
if (name !== 'tiny' && name !== 'realistic') {
  process.stderr.write('usage: build tiny|realistic\n');
  process.exit(2);
}
ensureGuest(name).then(
  (g) => process.stdout.write(`${g.dir}\n`),
  (e) => {
    process.stderr.write(`guests: build failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
