// Typed engine errors. Every failure that can reach a user carries a stable `code` (returned by the API and
// printed by the CLI) and a message that says what was wrong and, where useful, what to do about it.

/** What every error code means to a client: its HTTP status, a one-line summary and, where useful, a hint. */
export interface ErrorInfo {
  status: number;
  summary: string;
  hint?: string;
}

/**
 * Every error code, once: the API server answers with its status, clients and the CLI read it back by code,
 * and the provider's diagnostics take their summary and hint from here. A code without a row is not a code
 * (ErrorCode is this table's keys), so a new one fails type-checking until it has one.
 */
export const ERRORS = {
  OVERLAY_BAD_MAGIC: { status: 422, summary: 'Not a VM overlay' },
  OVERLAY_VERSION: { status: 422, summary: 'An overlay of another format version', hint: 'Upgrade the engine, or make the overlay again with this one.' },
  OVERLAY_TRUNCATED: { status: 422, summary: 'The overlay is cut short', hint: 'Download it again; check the web server or object store that serves it.' },
  OVERLAY_CORRUPT: { status: 422, summary: 'The overlay is damaged or malformed' },
  OVERLAY_LIMIT: { status: 422, summary: 'The overlay declares more than its base allows', hint: 'See "Limits" in engine/overlay/FORMAT.md for what an overlay may declare.' },
  OVERLAY_WRONG_BASE: {
    status: 422,
    summary: 'The overlay is for another base VM',
    hint: 'An overlay applies only to the base it was made from: use that base, or make the overlay again against this one.',
  },
  QCOW2_INVALID: { status: 422, summary: 'Not a readable qcow2 image' },
  QCOW2_UNSUPPORTED: { status: 422, summary: 'A qcow2 feature the engine does not handle', hint: 'Convert the image with qemu-img convert (no compression, no external data file).' },
  SAVEFILE_INVALID: { status: 422, summary: 'Not a readable memory snapshot' },
  SAVEFILE_UNSUPPORTED: { status: 422, summary: 'A memory snapshot feature the engine does not handle' },
  DISK_IMAGE_INVALID: { status: 422, summary: 'Not a usable disk image', hint: 'A base disk is a self-contained raw or qcow2 image; `qemu-img info` shows its format and any backing file.' },
  IMAGE_MISMATCH: { status: 422, summary: 'Images that must agree do not' },
  INVALID_ARGUMENT: { status: 400, summary: 'Invalid request' },
  UNAUTHORIZED: { status: 401, summary: 'The cloudlet engine refused the token', hint: "Check the provider `token` (or the CLOUDLET_TOKEN environment variable) against the engine's token file." },
  NOT_FOUND: { status: 404, summary: 'Not found on the cloudlet' },
  IN_USE: { status: 409, summary: 'In use', hint: 'Terraform destroys dependents first when they are in the same configuration; something outside it still uses this object.' },
  CONFLICT: { status: 409, summary: 'Not possible in the current state' },
  HASH_MISMATCH: { status: 422, summary: 'Content does not match its hash', hint: 'The bytes fetched are not the ones the configuration expects: check the hash, or the source for tampering.' },
  ARCHIVE_INVALID: { status: 422, summary: 'The base archive is malformed or incomplete' },
  DOWNLOAD_FAILED: { status: 502, summary: 'A download failed', hint: 'Check the URL from the cloudlet host (it follows up to 10 redirects, never from https to http).' },
  VM_FAILED: { status: 500, summary: 'libvirt or QEMU failed' },
  GUEST_AGENT: { status: 504, summary: "The guest's agent did not answer" },
  COMMAND_FAILED: { status: 422, summary: 'The command failed in the guest', hint: 'Its exit status and output are in the message; the guest agent itself answered.' },
  ENGINE_LOCKED: { status: 422, summary: 'Another engine owns this state directory' },
  ENGINE_UNAVAILABLE: {
    status: 422,
    summary: 'Cannot reach the cloudlet engine',
    hint: 'Check that the engine is running and that `endpoint` is right (`cloudlet engine status` on the cloudlet host).',
  },
  HOST_UNSUPPORTED: {
    status: 422,
    summary: "This cloudlet's QEMU cannot restore the base's memory snapshot",
    hint: 'Run it on a cloudlet whose QEMU offers that machine type and CPU model, or make the base again on this one.',
  },
  NETWORK_FAILED: {
    status: 500,
    summary: "The cloudlet host's networking could not be set up",
    hint: 'The engine needs root (CAP_NET_ADMIN) and iproute2, nftables and dnsmasq-base (engine/host/setup-host.sh installs them); the message names the command that failed.',
  },
  PORT_IN_USE: { status: 409, summary: 'A host port is already in use', hint: 'Choose another host port, or leave it out and the cloudlet assigns a free one.' },
  BASE_MISSING: { status: 422, summary: 'The cloudlet lacks the base VM', hint: 'Import the base on this cloudlet first.' },
  HANDOFF_FAILED: { status: 502, summary: 'The handoff did not complete; the VM runs on at the source' },
  HANDOFF_PROTOCOL: { status: 502, summary: 'A malformed handoff stream' },
  HANDOFF_UNCERTAIN: { status: 502, summary: 'Unknown which cloudlet kept the VM', hint: 'The copy here is kept paused: check the source, and resume this copy only if the source has none.' },
  INTERRUPTED: { status: 422, summary: 'The engine stopped while the operation ran', hint: '`cloudlet operation list` shows what was interrupted; nothing half-made was kept, so run it again.' },
  CANCELLED: { status: 422, summary: 'Cancelled' },
  INTERNAL: { status: 500, summary: 'Internal engine error' },
  NO_SPACE: { status: 507, summary: 'Not enough disk space on the cloudlet', hint: 'Free space in the state directory (delete unused instances, overlays or bases) and try again.' },
  IO: { status: 500, summary: 'A file operation failed' },
} as const satisfies Record<string, ErrorInfo>;

export type ErrorCode = keyof typeof ERRORS;

/** The table's row for a code that came over the wire (an unknown one reads as INTERNAL's). */
export function errorInfo(code: string): ErrorInfo {
  return (ERRORS as Record<string, ErrorInfo>)[code] ?? ERRORS.INTERNAL;
}

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
  const errno = (e as { code?: string } | undefined)?.code; // a Node errno (ENOENT, ...); this file is also bundled for the browser
  const reason = errno === 'ENOENT' ? 'no such file' : errno === 'EACCES' ? 'permission denied' : String((e as Error)?.message ?? e);
  return new CloudletError('IO', `${what} ${path}: ${reason}`, e);
}
