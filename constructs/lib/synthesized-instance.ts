// SynthesizedInstance: a VM synthesized on a cloudlet from a base VM and an overlay (or the base alone).
// Its placement is its provider configuration; moveTo() points it at another Cloudlet, which Terraform plans
// as an in-place change of placement: a handoff.

import { Construct } from 'constructs';
import { Fn, TerraformStack } from 'cdktf';
import { Instance } from '../generated/providers/cloudlet/instance';
import { Cloudlet } from './cloudlet';
import { IBaseVm, checkBase } from './base-vm';
import { IVmOverlay } from './vm-overlay';
import { INetwork } from './network';
import { portsProblem } from '../../engine/contract/rules';
import { checkHash, checkName, checkRange, fail, isToken, nameFromPath } from './validation';

export type PowerState = 'running' | 'paused' | 'stopped';

/** A guest port published on the cloudlet host's address. */
export interface PublishedPort {
  /** The port inside the guest (1 to 65535). */
  readonly guest: number;
  /**
   * The port on the cloudlet host (1 to 65535).
   * @default - a free one the cloudlet assigns (see `publishedPorts`)
   */
  readonly host?: number;
  /**
   * 'tcp' or 'udp'.
   * @default 'tcp'
   */
  readonly protocol?: 'tcp' | 'udp';
}

export interface SynthesizedInstanceProps {
  /** The base VM to synthesize from. */
  readonly base: IBaseVm;
  /**
   * The overlay to apply. On another cloudlet than the instance, it is fetched from that cloudlet's signed URL.
   * @default - none: the base VM resumes as it is
   */
  readonly overlay?: IVmOverlay;
  /**
   * The overlay as a file on any web server or object store (http(s) URL), instead of `overlay`: each cloudlet
   * fetches it (taking a broken transfer up with Range requests) and checks it against `overlaySha256`.
   * @default - none
   */
  readonly overlayUrl?: string;
  /**
   * The SHA-256 of the file at `overlayUrl` (its overlay id); required with it.
   * @default - none
   */
  readonly overlaySha256?: string;
  /**
   * Where the instance runs.
   * @default - the base's cloudlet
   */
  readonly cloudlet?: Cloudlet;
  /**
   * Instance name, unique on the cloudlet.
   * @default - derived from the construct path
   */
  readonly name?: string;
  /**
   * Virtual CPUs; must equal the base's (the instance resumes from its memory snapshot).
   * @default - the base's
   */
  readonly vcpus?: number;
  /**
   * Guest memory in MiB; must equal the base's.
   * @default - the base's
   */
  readonly memoryMib?: number;
  /**
   * Wanted power state.
   * @default 'running'
   */
  readonly powerState?: PowerState;
  /**
   * The networks the instance joins, on its cloudlet (a `Network`, `Network.fromName`, or a network's name).
   * After `moveTo`, the instance joins the destination's networks of the same names. `[]`: none.
   * @default - the cloudlet's `default` network
   */
  readonly networks?: (INetwork | string)[];
  /**
   * Guest ports published on the cloudlet host's address; `endpoints` has their URLs.
   * @default - none
   */
  readonly ports?: PublishedPort[];
}

export class SynthesizedInstance extends Construct {
  readonly resource: Instance;
  readonly base: IBaseVm;
  readonly overlay?: IVmOverlay;
  private placement: Cloudlet;

  constructor(scope: Construct, id: string, props: SynthesizedInstanceProps) {
    super(scope, id);
    checkBase(this, props.base);
    checkName(this, 'name', props.name);
    checkRange(this, 'vcpus', props.vcpus, 'vcpus');
    checkRange(this, 'memoryMib', props.memoryMib, 'memoryMiB');
    if (props.powerState !== undefined && !['running', 'paused', 'stopped'].includes(props.powerState))
      fail(this, 'powerState', `expected running, paused or stopped, got ${JSON.stringify(props.powerState)}`);
    if (props.cloudlet !== undefined && props.cloudlet !== props.base.cloudlet) {
      fail(this, 'cloudlet', `the base ${props.base.node.path} is on ${props.base.cloudlet.node.path}, not ${props.cloudlet.node.path}; use a base on this cloudlet (BaseVm, or BaseVm.fromHash)`);
    }
    const cloudlet = props.base.cloudlet;
    if (props.overlay) checkOverlayBase(this, props.overlay, props.base);
    if (props.overlayUrl !== undefined && props.overlay !== undefined) fail(this, 'overlayUrl', 'give overlay or overlayUrl, not both');
    if (props.overlayUrl !== undefined && !isToken(props.overlayUrl) && !/^https?:\/\/\S+$/.test(props.overlayUrl))
      fail(this, 'overlayUrl', `expected an http(s) URL, got ${JSON.stringify(props.overlayUrl)}`);
    if ((props.overlayUrl === undefined) !== (props.overlaySha256 === undefined))
      fail(this, 'overlaySha256', props.overlayUrl === undefined ? 'goes with overlayUrl' : 'is required with overlayUrl (the overlay id the file must hash to)');
    checkHash(this, 'overlaySha256', props.overlaySha256);
    const networks = props.networks?.map((n, i) => {
      if (typeof n === 'string') {
        checkName(this, `networks[${i}]`, n);
        return n;
      }
      if (n.cloudlet !== cloudlet) fail(this, `networks[${i}]`, `${n.node.path} is on ${n.cloudlet.node.path}, not on the instance's cloudlet ${cloudlet.node.path}`);
      return n.networkName;
    });
    const ports = props.ports ?? [];
    if (ports.every((p) => !isToken(p.guest) && (p.host === undefined || !isToken(p.host)))) {
      const problem = portsProblem(ports);
      if (problem) fail(this, 'ports', problem);
    }
    if (networks !== undefined && networks.length === 0 && ports.length > 0) fail(this, 'ports', 'publishing a port needs a network, and networks is []');
    this.base = props.base;
    this.overlay = props.overlay;
    this.placement = cloudlet;
    // An overlay on another cloudlet is fetched from its signed URL, checked by its hash.
    const remote = props.overlay !== undefined && props.overlay.cloudlet !== cloudlet ? props.overlay : undefined;
    if (remote && remote.downloadUrl === undefined) fail(this, 'overlay', 'is on another cloudlet and has no download URL to fetch it from');
    this.resource = new Instance(this, 'resource', {
      provider: cloudlet.provider,
      name: props.name ?? nameFromPath(this),
      baseId: props.base.baseId,
      overlayId: props.overlay && !remote ? props.overlay.overlayId : undefined,
      overlayUrl: remote?.downloadUrl ?? props.overlayUrl,
      overlaySha256: remote?.overlayId ?? props.overlaySha256,
      vcpus: props.vcpus,
      memoryMib: props.memoryMib,
      powerState: props.powerState,
      networks,
      port: ports.length ? ports.map((p) => ({ guest: p.guest, host: p.host, protocol: p.protocol })) : undefined,
    });
    this.node.addValidation({ validate: () => this.validateStacks() });
  }

  /**
   * Moves the instance to another cloudlet (a handoff): its provider configuration changes, and Terraform
   * plans an in-place change of placement that the provider carries out as a live migration. The target's
   * configuration must list the cloudlet the instance runs on among its `peers`, and the target must hold
   * the same base VM (a `BaseVm` on it, or `BaseVm.fromHash`).
   */
  moveTo(target: Cloudlet): void {
    Cloudlet.check(this, 'moveTo(target)', target);
    if (target !== this.base.cloudlet && target.peerCount === 0) {
      fail(this, 'moveTo(target)', `${target.node.path} has no peers, so it cannot reach the cloudlet the instance runs on; give it peers: [${this.base.cloudlet.node.id}.asPeer()]`);
    }
    this.placement = target;
    this.resource.provider = target.provider;
  }

  /** The cloudlet the instance is configured to run on. */
  get cloudlet(): Cloudlet {
    return this.placement;
  }

  get instanceId(): string {
    return this.resource.id;
  }

  get instanceName(): string {
    return this.resource.name;
  }

  /** How the cloudlet host reaches the guest without a network: its QEMU guest agent channel (`unix:PATH`). */
  get address(): string {
    return this.resource.address;
  }

  /** The instance's address on its first network. */
  get ipAddress(): string {
    return this.resource.ipAddress;
  }

  /** Its addresses, one per network, in `networks` order. */
  get ipAddresses(): string[] {
    return this.resource.ipAddresses;
  }

  /** Each published port as a URL on the cloudlet host's address (`http://HOST:PORT`, `tcp://HOST:PORT`, ...). */
  get endpoints(): string[] {
    return this.resource.endpoints;
  }

  /** The URL of the published port at `index` in `ports` (the first by default). */
  endpoint(index = 0): string {
    return Fn.element(this.resource.endpoints, index) as string;
  }

  /** running, paused or stopped, as the cloudlet reports it. */
  get state(): string {
    return this.resource.state;
  }

  /** Id of the cloudlet the instance runs on (from the engine). */
  get placementId(): string {
    return this.resource.cloudlet;
  }

  private validateStacks(): string[] {
    const mine = TerraformStack.of(this);
    const errors: string[] = [];
    if (TerraformStack.of(this.placement) !== mine)
      errors.push(
        `${this.node.path}: invalid cloudlet: ${this.placement.node.path} is in stack ${TerraformStack.of(this.placement).node.id}, but the instance is in ${mine.node.id}; a provider configuration cannot be shared across stacks, so declare a Cloudlet in each stack`,
      );
    if (TerraformStack.of(this.base) !== mine)
      errors.push(`${this.node.path}: invalid base: ${this.base.node.path} is in another stack (${TerraformStack.of(this.base).node.id}); use BaseVm.fromHash in this stack`);
    return errors;
  }
}

function checkOverlayBase(scope: Construct, overlay: IVmOverlay, base: IBaseVm): void {
  if (overlay.base === base) return;
  const a = overlay.base.pinnedHash;
  const b = base.pinnedHash;
  if (a !== undefined && a === b) return; // the same base by content, declared twice
  fail(
    scope,
    'overlay',
    `${overlay.node.path} applies to base ${overlay.base.node.path}${a ? ` (${a.slice(0, 12)})` : ''}, not ${base.node.path}${b ? ` (${b.slice(0, 12)})` : ''}; an overlay applies only to the base it was made from`,
  );
}
