// VmOverlay: the compressed difference between a customized VM and its base. Brought in from a file or URL,
// or made here: the base is resumed, customized by commands, and captured (a customization VM + an overlay).

import { Construct, IConstruct } from 'constructs';
import { Customization } from '../generated/providers/cloudlet/customization';
import { Overlay } from '../generated/providers/cloudlet/overlay';
import { Cloudlet } from './cloudlet';
import { IBaseVm, checkBase } from './base-vm';
import { RANGES } from '../../engine/contract/rules';
import { checkHash, checkName, checkPattern, checkRange, fail, isToken, nameFromPath } from './validation';

export interface IVmOverlay extends IConstruct {
  readonly cloudlet: Cloudlet;
  /** The base VM the overlay applies to. */
  readonly base: IBaseVm;
  /** The overlay id (SHA-256 of the overlay file). */
  readonly overlayId: string;
  /** A signed URL other cloudlets can fetch it from (sensitive; null at deploy time for a unix-socket engine). */
  readonly downloadUrl?: string;
}

/** A file written into the guest through its QEMU guest agent before the commands run. */
export interface GuestFile {
  /** Absolute path in the guest; parent directories are made. */
  readonly path: string;
  /** The content (at most 512 KiB); sensitive in the provider's schema. */
  readonly content: string;
  /**
   * Octal mode, such as '0644'.
   * @default - the guest agent's (0644 less its umask)
   */
  readonly mode?: string;
}

export interface CustomizationSpec {
  /** Shell commands run in order in the guest through its QEMU guest agent; a failing one fails the deploy. */
  readonly commands: string[];
  /**
   * Files written into the guest before the commands run.
   * @default - none
   */
  readonly files?: GuestFile[];
  /**
   * Name of the customization VM on the cloudlet.
   * @default - derived from the construct path, with `-custom`
   */
  readonly name?: string;
  /**
   * Time limit for each command, in seconds (1 to 3600).
   * @default 300
   */
  readonly commandTimeoutSeconds?: number;
}

export interface VmOverlayProps {
  /** The base VM the overlay applies to; the overlay lives on the base's cloudlet. */
  readonly base: IBaseVm;
  /**
   * Where an existing overlay file is: an http(s)/file URL the engine fetches, or a local path the provider
   * uploads. Give either `source` or `customize`.
   * @default - none
   */
  readonly source?: string;
  /**
   * Expected SHA-256 of the file at `source`.
   * @default - not checked
   */
  readonly sha256?: string;
  /**
   * Make the overlay here: resume the base, run these commands, capture what changed.
   * @default - none
   */
  readonly customize?: CustomizationSpec;
  /**
   * zstd level of a captured overlay (1 to 19).
   * @default 9 (the engine's)
   */
  readonly compressionLevel?: number;
  /**
   * Leave the overlay on the cloudlet when the stack is destroyed.
   * @default false
   */
  readonly keepOnDestroy?: boolean;
}

export class VmOverlay extends Construct implements IVmOverlay {
  readonly cloudlet: Cloudlet;
  readonly base: IBaseVm;
  readonly resource: Overlay;
  /** The customization VM, when the overlay is made here. */
  readonly customization?: Customization;

  constructor(scope: Construct, id: string, props: VmOverlayProps) {
    super(scope, id);
    checkBase(this, props.base);
    if (props.source === undefined && props.customize === undefined) fail(this, 'source', 'give source (an overlay file or URL) or customize (commands to run on the base)');
    if (props.source !== undefined && props.customize !== undefined) fail(this, 'customize', 'source and customize are alternatives; give one');
    if (props.sha256 !== undefined && props.source === undefined) fail(this, 'sha256', 'checks the file at source; a captured overlay has no hash before it exists');
    if (props.compressionLevel !== undefined && props.customize === undefined) fail(this, 'compressionLevel', 'applies to an overlay captured with customize');
    checkHash(this, 'sha256', props.sha256);
    checkRange(this, 'compressionLevel', props.compressionLevel, 'compressionLevel');
    if (props.source !== undefined && !isToken(props.source) && props.source.trim() === '') fail(this, 'source', 'must not be empty');
    this.cloudlet = props.base.cloudlet;
    this.base = props.base;
    const provider = this.cloudlet.provider;
    if (props.customize) {
      const c = props.customize;
      if (!Array.isArray(c.commands)) fail(this, 'customize.commands', 'a list of shell commands is required');
      checkName(this, 'customize.name', c.name);
      checkRange(this, 'customize.commandTimeoutSeconds', c.commandTimeoutSeconds, 'commandTimeoutSeconds');
      (c.files ?? []).forEach((f, i) => {
        checkPattern(this, `customize.files[${i}].path`, f.path, 'guestPath');
        if (f.mode !== undefined) checkPattern(this, `customize.files[${i}].mode`, f.mode, 'fileMode');
        if (!isToken(f.content) && Buffer.byteLength(f.content ?? '') > RANGES.guestFileBytes.maximum)
          fail(this, `customize.files[${i}].content`, `at most ${RANGES.guestFileBytes.maximum} bytes go through the guest agent; fetch larger data in a command`);
      });
      this.customization = new Customization(this, 'customization', {
        provider,
        name: c.name ?? customName(this),
        baseId: props.base.baseId,
        commands: c.commands,
        file: c.files?.map((f) => ({ path: f.path, content: f.content, mode: f.mode })),
        commandTimeoutSeconds: c.commandTimeoutSeconds,
      });
    }
    this.resource = new Overlay(this, 'resource', {
      provider,
      source: props.source,
      sha256: props.sha256,
      customizationId: this.customization?.id,
      compressionLevel: props.compressionLevel,
      baseId: props.base.baseId,
      keepOnDestroy: props.keepOnDestroy,
    });
  }

  get overlayId(): string {
    return this.resource.id;
  }

  /** Size of the overlay file in bytes. */
  get sizeBytes(): number {
    return this.resource.sizeBytes;
  }

  /** A signed URL other cloudlets can fetch the overlay from (sensitive). */
  get downloadUrl(): string {
    return this.resource.downloadUrl;
  }
}

function customName(scope: Construct): string {
  const base = nameFromPath(scope);
  return base.length > 56 ? `${base.slice(0, 56).replace(/-+$/, '')}-custom` : `${base}-custom`;
}
