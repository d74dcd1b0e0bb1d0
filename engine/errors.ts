// Typed engine errors. Every failure that can reach a user carries a stable `code` (returned by the API and
// printed by the CLI) and a message that says what was wrong and, where useful, what to do about it.

export type ErrorCode =
  | 'OVERLAY_BAD_MAGIC' // not an overlay file at all
  | 'OVERLAY_VERSION' // an overlay written by a newer, incompatible format version
  | 'OVERLAY_TRUNCATED' // the overlay ends before its own declared length
  | 'OVERLAY_CORRUPT' // structure or digest does not check out
  | 'OVERLAY_LIMIT' // a declared size or count is beyond what this engine accepts
  | 'OVERLAY_WRONG_BASE' // the base VM given is not the one the overlay was made against
  | 'QCOW2_INVALID' // not a readable qcow2 image
  | 'QCOW2_UNSUPPORTED' // a qcow2 feature the engine does not handle (compressed clusters, external data, ...)
  | 'SAVEFILE_INVALID' // not a readable libvirt/QEMU save file
  | 'SAVEFILE_UNSUPPORTED' // a save-file feature the engine does not handle (compressed image, XBZRLE, ...)
  | 'IMAGE_MISMATCH' // inputs that must agree do not (sizes, backing file, RAM layout)
  | 'INVALID_ARGUMENT'
  | 'IO';

export class CloudletError extends Error {
  readonly code: ErrorCode;
  override readonly cause?: unknown;

  constructor(code: ErrorCode, message: string, cause?: unknown) {
    super(message);
    this.name = 'CloudletError';
    this.code = code;
    this.cause = cause;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Wraps a Node I/O error so callers always see a CloudletError naming the file involved. */
export function ioError(what: string, path: string, e: unknown): CloudletError {
  if (e instanceof CloudletError) return e;
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  const reason = errno === 'ENOENT' ? 'no such file' : errno === 'EACCES' ? 'permission denied' : String((e as Error)?.message ?? e);
  return new CloudletError('IO', `${what} ${path}: ${reason}`, e);
}
