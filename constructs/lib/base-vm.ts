// BaseVm: a base VM on a cloudlet, imported from a base archive, made from a bootable disk image
// (fromDiskImage), or (fromHash) one the cloudlet already has.

import { Construct, IConstruct } from 'constructs';
import { BaseVm as L1BaseVm } from '../generated/providers/cloudlet/base-vm';
import { DataCloudletBaseVm } from '../generated/providers/cloudlet/data-cloudlet-base-vm';
import { Cloudlet } from './cloudlet';
import { checkHash, checkName, checkRange, fail, isToken } from './validation';
import { readinessProblem } from '../../engine/contract/rules';

/** A base VM that overlays and instances can build on. */
export interface IBaseVm extends IConstruct {
  readonly cloudlet: Cloudlet;
  /** The base id: the SHA-256 content address of its disk and memory snapshot. */
  readonly baseId: string;
  /** The hash the base is pinned to, when known at synth time (used to check overlays against their base). */
  readonly pinnedHash?: string;
  readonly memoryMib: number;
  readonly vcpus: number;
}

/** Fails synth unless `v` is a base VM (a BaseVm, or one from BaseVm.fromHash). */
export function checkBase(scope: Construct, v: unknown): asserts v is IBaseVm {
  if (!v || !((v as IBaseVm).cloudlet instanceof Cloudlet)) fail(scope, 'base', 'a BaseVm (or BaseVm.fromHash) is required');
}

export interface BaseVmProps {
  /** The cloudlet to import the base into. */
  readonly cloudlet: Cloudlet;
  /** Path or http(s)/file URL of the base archive (`cloudlet base export` writes one). */
  readonly source: string;
  /**
   * The expected base id (64 hex digits). The import fails if the archive holds another base, and nothing is
   * downloaded when the cloudlet has it already.
   * @default - not checked
   */
  readonly sha256?: string;
  /**
   * Leave the base on the cloudlet when the stack is destroyed.
   * @default false
   */
  readonly keepOnDestroy?: boolean;
}

export interface BaseVmDiskImageProps {
  /** The cloudlet to make the base on. */
  readonly cloudlet: Cloudlet;
  /** Path of a bootable disk image (qcow2 or raw) on the cloudlet host; the image itself is not changed. */
  readonly diskImage: string;
  /** The base's name (lowercase letters, digits and dashes, at most 63). */
  readonly name: string;
  /**
   * Guest memory in MiB; instances of the base have the same.
   * @default 256
   */
  readonly memoryMib?: number;
  /**
   * Virtual CPUs; instances of the base have the same.
   * @default 1
   */
  readonly vcpus?: number;
  /**
   * A kernel to boot directly (with `initrd` and `cmdline`) instead of the image's own boot loader.
   * @default - the image's boot loader
   */
  readonly kernel?: string;
  /** @default - none */
  readonly initrd?: string;
  /** @default - none */
  readonly cmdline?: string;
  /**
   * When to snapshot the booted VM: `'agent'` (its QEMU guest agent answers), `'systemd'` (boot finished),
   * `'cloud-init'` (cloud-init done), `'tcp:PORT'` or an `http://` URL answering inside the guest, or a number
   * of seconds after boot.
   * @default 'auto' - the strictest the image supports: the agent, then cloud-init, then systemd
   */
  readonly ready?: 'auto' | 'agent' | 'systemd' | 'cloud-init' | `tcp:${number}` | `http://${string}` | `https://${string}` | number;
  /**
   * How long readiness may take, in seconds.
   * @default 600
   */
  readonly readyTimeoutSeconds?: number;
  /**
   * The boot firmware.
   * @default 'bios'
   */
  readonly firmware?: 'bios' | 'uefi';
  /**
   * A cloud-init NoCloud seed for the first boot; the memory snapshot is taken after cloud-init has finished.
   * `userData` and `networkConfig` are sensitive in the provider's schema.
   * @default - no seed
   */
  readonly cloudInit?: { readonly userData?: string; readonly metaData?: string; readonly networkConfig?: string };
  /**
   * Leave the base on the cloudlet when the stack is destroyed.
   * @default false
   */
  readonly keepOnDestroy?: boolean;
}

export interface BaseVmLookup {
  readonly cloudlet: Cloudlet;
  /** The base id to find on the cloudlet. */
  readonly hash: string;
}

export class BaseVm extends Construct implements IBaseVm {
  /** A base the cloudlet already has (imported elsewhere), looked up by its id at plan time. */
  static fromHash(scope: Construct, id: string, lookup: BaseVmLookup): IBaseVm {
    return new ExistingBaseVm(scope, id, lookup);
  }

  /** A base the cloudlet makes from a bootable disk image: boot it, wait until it is ready, snapshot its memory. */
  static fromDiskImage(scope: Construct, id: string, props: BaseVmDiskImageProps): BaseVm {
    return new BaseVm(scope, id, props);
  }

  readonly cloudlet: Cloudlet;
  readonly resource: L1BaseVm;
  readonly pinnedHash?: string;

  constructor(scope: Construct, id: string, props: BaseVmProps | BaseVmDiskImageProps) {
    super(scope, id);
    Cloudlet.check(this, 'cloudlet', props.cloudlet);
    this.cloudlet = props.cloudlet;
    if ('diskImage' in props) {
      if (!isToken(props.diskImage) && (typeof props.diskImage !== 'string' || props.diskImage.trim() === '')) fail(this, 'diskImage', 'a path of a disk image on the cloudlet host is required');
      if (props.name === undefined) fail(this, 'name', 'a base made from a disk image needs a name');
      checkName(this, 'name', props.name);
      checkRange(this, 'memoryMib', props.memoryMib, 'memoryMiB');
      checkRange(this, 'vcpus', props.vcpus, 'vcpus');
      if (props.initrd !== undefined && props.kernel === undefined) fail(this, 'initrd', 'goes with kernel (a direct kernel boot)');
      if (typeof props.ready === 'number') checkRange(this, 'ready', props.ready, 'readySeconds');
      else if (props.ready !== undefined && !isToken(props.ready)) {
        const why = readinessProblem(props.ready);
        if (why) fail(this, 'ready', why);
      }
      if (props.firmware !== undefined && props.firmware !== 'bios' && props.firmware !== 'uefi') fail(this, 'firmware', `expected 'bios' or 'uefi', got ${JSON.stringify(props.firmware)}`);
      if (props.firmware === 'uefi' && props.kernel !== undefined) fail(this, 'firmware', "'uefi' boots the image's own EFI loader; it does not go with kernel");
      checkRange(this, 'readyTimeoutSeconds', props.readyTimeoutSeconds, 'readyTimeoutSeconds');
      this.resource = new L1BaseVm(this, 'resource', {
        provider: props.cloudlet.provider,
        diskImage: props.diskImage,
        name: props.name,
        memoryMib: props.memoryMib,
        vcpus: props.vcpus,
        kernel: props.kernel,
        initrd: props.initrd,
        cmdline: props.cmdline,
        ready: props.ready === undefined ? undefined : String(props.ready),
        readyTimeoutSeconds: props.readyTimeoutSeconds,
        firmware: props.firmware,
        cloudInit: props.cloudInit,
        keepOnDestroy: props.keepOnDestroy,
      });
      return;
    }
    if (!isToken(props.source) && (typeof props.source !== 'string' || props.source.trim() === '')) fail(this, 'source', 'a path or URL of a base archive is required');
    if (!isToken(props.source) && /^[a-z][a-z0-9+.-]*:\/\//i.test(props.source) && !/^(https?|file):\/\//.test(props.source))
      fail(this, 'source', `only http(s) and file URLs can be fetched, got ${JSON.stringify(props.source)}`);
    checkHash(this, 'sha256', props.sha256);
    this.pinnedHash = props.sha256 !== undefined && !isToken(props.sha256) ? props.sha256 : undefined;
    this.resource = new L1BaseVm(this, 'resource', { provider: props.cloudlet.provider, source: props.source, sha256: props.sha256, keepOnDestroy: props.keepOnDestroy });
  }

  get baseId(): string {
    return this.resource.id;
  }

  get memoryMib(): number {
    return this.resource.memoryMib;
  }

  get vcpus(): number {
    return this.resource.vcpus;
  }
}

class ExistingBaseVm extends Construct implements IBaseVm {
  readonly cloudlet: Cloudlet;
  readonly pinnedHash: string;
  private readonly data: DataCloudletBaseVm;

  constructor(scope: Construct, id: string, lookup: BaseVmLookup) {
    super(scope, id);
    Cloudlet.check(this, 'cloudlet', lookup.cloudlet);
    if (typeof lookup.hash !== 'string' || isToken(lookup.hash)) fail(this, 'hash', 'the base id must be known at synth time');
    checkHash(this, 'hash', lookup.hash);
    this.cloudlet = lookup.cloudlet;
    this.pinnedHash = lookup.hash;
    this.data = new DataCloudletBaseVm(this, 'lookup', { provider: lookup.cloudlet.provider, id: lookup.hash });
  }

  get baseId(): string {
    return this.data.id;
  }

  get memoryMib(): number {
    return this.data.memoryMib;
  }

  get vcpus(): number {
    return this.data.vcpus;
  }
}
