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
  | 'INVALID_ARGUMENT' // a request or option that is malformed or out of range
  | 'UNAUTHORIZED' // missing or wrong API token
  | 'NOT_FOUND' // no such base, overlay, instance or operation
  | 'IN_USE' // refused because other objects depend on it (a base with instances or overlays)
  | 'CONFLICT' // the object is not in a state that allows this (e.g. an instance that is not running)
  | 'HASH_MISMATCH' // content does not match the hash it was promised to have
  | 'ARCHIVE_INVALID' // a base archive that is malformed, truncated or incomplete
  | 'DOWNLOAD_FAILED' // a URL that answered with an error status, timed out or broke off
  | 'VM_FAILED' // libvirt/QEMU refused or failed an operation on a VM
  | 'GUEST_AGENT' // the guest's control agent did not answer
  | 'ENGINE_LOCKED' // another engine already owns this state directory
  | 'ENGINE_UNAVAILABLE' // the client could not reach (or start) an engine
  | 'BASE_MISSING' // a cloudlet lacks the base VM an instance or overlay needs (a handoff's destination, say)
  | 'HANDOFF_FAILED' // a handoff did not complete; the VM runs on at the source
  | 'HANDOFF_PROTOCOL' // a handoff stream that is malformed or from an incompatible engine
  | 'HANDOFF_UNCERTAIN' // the destination could not learn whether the source took its confirmation
  | 'INTERRUPTED' // the engine stopped (crash, restart) while the operation ran
  | 'CANCELLED' // the operation was cancelled by a client
  | 'INTERNAL' // a bug: an unexpected error, reported with its message
  | 'NO_SPACE' // the filesystem lacks room for what an operation must write (checked before writing)
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
