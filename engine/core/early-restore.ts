// A VM restore begun before its memory snapshot is whole: libvirt and QEMU read the save file through a named
// pipe (io/fifo-feed.ts) as it is written, so much of the restore is done when its last bytes are. A handoff's
// destination starts it once QEMU's first pass has arrived. (A synthesis does not: tried, see engine/README.)

import { FifoFeed, MemoryFollower } from '../io/fifo-feed';

/**
 * The restore of a VM begun while its memory file is still written (the MemoryFollower of a handoff's
 * receiver): the file goes to libvirt through a named pipe as it grows, and the pipe's last bytes, the device
 * state, go in only after the disk is final (the handoff's last disk pass). QEMU opens the disk image inactive
 * for an incoming migration and reads it again when it activates it at the end, so it runs on the final disk.
 * This holds the engine's one libvirt connection from the begin to the end (other VM commands wait); with the
 * embedded driver there cannot be a second one. If it fails for any reason, the file it read from is whole at
 * the end anyway, and the VM is restored from it as without this.
 */
export class EarlyRestore implements MemoryFollower {
  private feed: FifoFeed | null = null;
  private restoring: Promise<void> | null = null;
  private failure: string | null = null;
  private endAt = 0;
  private beganAt = 0;
  private backlog = 0;
  private fedAt = 0;

  constructor(
    private readonly memoryFile: string,
    private readonly start: (fifo: string) => Promise<void>,
  ) {}

  begin(bytes: number): void {
    try {
      this.feed = FifoFeed.open(`${this.memoryFile}.pipe`, this.memoryFile);
    } catch (e) {
      this.failure = (e as Error).message;
      return;
    }
    this.beganAt = Date.now();
    this.feed.done.then(
      () => (this.fedAt = Date.now()),
      () => undefined,
    );
    this.feed.release(bytes);
    this.restoring = this.start(this.feed.fifo);
    // A restore that fails early must not leave the feed waiting for a reader.
    this.restoring.catch((e: Error) => {
      this.failure ??= e.message;
      this.feed?.abort('the restore failed');
    });
  }

  grow(bytes: number): void {
    this.feed?.release(bytes);
  }

  end(bytes: number): void {
    this.endAt = Date.now();
    this.backlog = bytes - (this.feed?.bytesSent ?? 0);
    this.feed?.end(bytes);
  }

  /**
   * After the end: whether the VM is restored this way; if not, why (null: never begun). `leadMs`: how long
   * before the end it began; `backlogBytes`: how much of the file had not gone into the pipe at the end,
   * and `fedMsAfterEnd` how long after the end its last byte went.
   */
  async outcome(): Promise<{ restored: boolean; failure: string | null; leadMs: number; backlogBytes: number; fedMsAfterEnd: number }> {
    if (!this.restoring || !this.feed) return { restored: false, failure: this.failure, leadMs: 0, backlogBytes: 0, fedMsAfterEnd: 0 };
    const [r, f] = await Promise.allSettled([this.restoring, this.feed.done]);
    if (r.status === 'fulfilled' && f.status === 'fulfilled')
      return { restored: true, failure: null, leadMs: this.endAt - this.beganAt, backlogBytes: this.backlog, fedMsAfterEnd: this.fedAt - this.endAt };
    const failed = r.status === 'rejected' ? r : (f as PromiseRejectedResult);
    return { restored: false, failure: this.failure ?? (failed.reason as Error).message, leadMs: 0, backlogBytes: 0, fedMsAfterEnd: 0 };
  }

  /** The handoff failed: stop feeding, and wait until the restore reading the pipe has ended (failed). */
  async abandon(reason: string): Promise<void> {
    if (!this.feed || !this.restoring) return;
    this.feed.abort(reason);
    await Promise.allSettled([this.restoring, this.feed.done]);
  }
}
