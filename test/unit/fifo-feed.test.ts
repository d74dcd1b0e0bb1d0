// The named-pipe feed of a growing file (io/fifo-feed.ts) with a real reader process (cat): the reader gets
// exactly the released bytes, in order, and sees the end only after end(); an abort truncates what it reads,
// and lets go of an open that no reader ever came for.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FifoFeed } from '../../engine/io/fifo-feed';

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fifo-feed-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `cat` of the pipe into a file; resolves with what it read once it sees the pipe's end. */
function reader(fifo: string, out: string): { exited: Promise<Buffer>; running: () => boolean } {
  let alive = true;
  const p = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', fifo, out], { stdio: 'ignore' });
  const exited = new Promise<Buffer>((resolve) => p.on('exit', () => ((alive = false), resolve(fs.readFileSync(out)))));
  return { exited, running: () => alive };
}

test('the reader gets the file as it grows, and its end only after end()', async () => {
  const file = path.join(dir, 'growing');
  const all = randomBytes(5 * 1024 * 1024 + 123);
  fs.writeFileSync(file, all.subarray(0, 1000000));
  const feed = FifoFeed.open(path.join(dir, 'p1'), file);
  const r = reader(feed.fifo, path.join(dir, 'out1'));
  feed.release(1000000);
  await sleep(300);
  fs.appendFileSync(file, all.subarray(1000000, 3000000));
  feed.release(3000000);
  fs.appendFileSync(file, all.subarray(3000000));
  feed.release(4000000);
  await sleep(300);
  // Released bytes only: the reader is still waiting for more.
  expect(r.running()).toBe(true);
  expect(fs.statSync(path.join(dir, 'out1')).size).toBe(4000000);
  feed.end(all.length);
  await feed.done;
  expect((await r.exited).equals(all)).toBe(true);
  expect(fs.existsSync(feed.fifo)).toBe(false);
});

test('an abort ends the pipe early: the reader sees a truncated file, the feed fails', async () => {
  const file = path.join(dir, 'half');
  fs.writeFileSync(file, randomBytes(2000000));
  const feed = FifoFeed.open(path.join(dir, 'p2'), file);
  const r = reader(feed.fifo, path.join(dir, 'out2'));
  feed.release(1000000);
  await sleep(300);
  feed.abort('stopped by the test');
  await expect(feed.done).rejects.toThrow(/stopped by the test/);
  expect((await r.exited).length).toBe(1000000);
});

test('an abort lets go of an open that no reader came for', async () => {
  const file = path.join(dir, 'unread');
  fs.writeFileSync(file, Buffer.alloc(10));
  const feed = FifoFeed.open(path.join(dir, 'p3'), file);
  feed.release(10);
  await sleep(200);
  feed.abort('nobody read it');
  await expect(feed.done).rejects.toThrow(/nobody read it/);
});

test('bytes released that the file does not hold fail the feed', async () => {
  const file = path.join(dir, 'short');
  fs.writeFileSync(file, Buffer.alloc(100));
  const feed = FifoFeed.open(path.join(dir, 'p4'), file);
  const r = reader(feed.fifo, path.join(dir, 'out4'));
  feed.end(200);
  await expect(feed.done).rejects.toThrow(/only 100 are there/);
  await r.exited;
});

test('a reader left waiting on a pipe whose feeder is gone is let go, and nothing is held without a reader', async () => {
  const fifo = path.join(dir, 'orphan');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  expect(FifoFeed.releaseReader(fifo)).toBe(false); // nobody reads it yet
  expect(FifoFeed.releaseReader(path.join(dir, 'no-such-pipe'))).toBe(false);
  const r = reader(fifo, path.join(dir, 'out-orphan'));
  await sleep(200);
  expect(r.running()).toBe(true); // waiting in its open, for a writer that will never come
  expect(FifoFeed.releaseReader(fifo)).toBe(true);
  expect((await r.exited).length).toBe(0);
});

test('a feed whose source cannot be read lets go a reader waiting in its open, and removes the pipe', async () => {
  const fifo = path.join(dir, 'p-nosource');
  const feed = FifoFeed.open(fifo, path.join(dir, 'no-such-source'));
  const r = reader(fifo, path.join(dir, 'out-nosource'));
  await expect(feed.done).rejects.toThrow(/no-such-source|cannot feed/);
  expect((await r.exited).length).toBe(0);
  expect(fs.existsSync(fifo)).toBe(false);
});
