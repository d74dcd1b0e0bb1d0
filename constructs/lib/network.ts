// Network: a private network on one cloudlet (a `cloudlet_network`). Instances on it reach each other by their
// addresses; guests reach nothing on the cloudlet host but what is published to them. Every cloudlet also has
// a network named `default`, which instances join unless they name others (Network.fromName imports it).

import { Construct, IConstruct } from 'constructs';
import { Network as NetworkResource } from '../generated/providers/cloudlet/network';
import { cidrProblem } from '../../engine/contract/rules';
import { Cloudlet } from './cloudlet';
import { checkName, fail, isToken, nameFromPath } from './validation';

export interface INetwork extends IConstruct {
  readonly cloudlet: Cloudlet;
  /** The network's name on its cloudlet, which instances name it by. */
  readonly networkName: string;
}

export interface NetworkProps {
  /** The cloudlet the network is on. */
  readonly cloudlet: Cloudlet;
  /**
   * Network name, unique on the cloudlet.
   * @default - derived from the construct path
   */
  readonly name?: string;
  /**
   * The range, in CIDR notation: private (10/8, 172.16/12, 192.168/16 or 100.64/10), /16 to /29, host bits zero.
   * @default - a free /24 in 10.213.0.0/16, chosen by the cloudlet
   */
  readonly cidr?: string;
}

export class Network extends Construct implements INetwork {
  readonly resource: NetworkResource;
  readonly cloudlet: Cloudlet;

  /** A network the cloudlet has already, such as its `default` one, by name. */
  static fromName(scope: Construct, id: string, cloudlet: Cloudlet, name: string): INetwork {
    Cloudlet.check(scope, 'cloudlet', cloudlet);
    const n = new Construct(scope, id) as Construct & { cloudlet: Cloudlet; networkName: string };
    checkName(n, 'name', name);
    return Object.assign(n, { cloudlet, networkName: name });
  }

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    Cloudlet.check(this, 'cloudlet', props.cloudlet);
    checkName(this, 'name', props.name);
    const problem = props.cidr === undefined || isToken(props.cidr) ? undefined : cidrProblem(props.cidr);
    if (problem) fail(this, 'cidr', problem);
    this.cloudlet = props.cloudlet;
    this.resource = new NetworkResource(this, 'resource', { provider: props.cloudlet.provider, name: props.name ?? nameFromPath(this), cidr: props.cidr });
  }

  get networkName(): string {
    return this.resource.name;
  }

  get networkId(): string {
    return this.resource.id;
  }

  /** The range (as given, or as the cloudlet chose it). */
  get cidr(): string {
    return this.resource.cidr;
  }

  /** The cloudlet host's address on the network. */
  get gateway(): string {
    return this.resource.gateway;
  }
}
