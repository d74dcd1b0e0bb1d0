// CloudletFleet: named cloudlet sites in one stack, each a Cloudlet that lists every other site as a peer (so an
// instance can move between any two), with the same base VM on each; and Placement: how an instance's site is
// chosen at synth time, from a named site, a context value, or measured round-trip times to a client. Terraform
// stays the coordinator: a placement that changes between two synths plans as an in-place move (a handoff).

import { Construct } from 'constructs';
import { BaseVm, BaseVmProps } from './base-vm';
import { Cloudlet, CloudletPeer } from './cloudlet';
import { SynthesizedInstance, SynthesizedInstanceProps } from './synthesized-instance';
import { checkName, fail, isToken } from './validation';

export interface CloudletSite {
  /** The site's name (lowercase letters, digits and dashes): how placements and peers name it. */
  readonly name: string;
  /**
   * The site's engine API (`https://host:port`, ...).
   * @default - none: give `stateDir` for a local engine instead
   */
  readonly endpoint?: string;
  /**
   * State directory of a local embedded engine (a site on this host).
   * @default - none: give `endpoint`
   */
  readonly stateDir?: string;
  /**
   * The site's API token, a sensitive value (a sensitive `TerraformVariable`'s `stringValue`).
   * @default - none (required with `endpoint`)
   */
  readonly token?: string;
  /**
   * PEM of the CA that signed the site's certificate (one CA for the fleet is simplest).
   * @default - the system store
   */
  readonly caCert?: string;
}

export interface CloudletFleetProps {
  /** The sites, in order of preference (the first is the default placement and wins ties). */
  readonly sites: CloudletSite[];
}

/** How a site is chosen for an instance; resolved at synth time against a fleet. */
export abstract class Placement {
  /** A site by name. */
  static site(name: string): Placement {
    return new (class extends Placement {
      choose(fleet: CloudletFleet, prop: string): string {
        fleet.check(prop, name);
        return name;
      }
    })();
  }

  /**
   * The site named by a context value (cdktf.json `context`, or `CDKTF_CONTEXT_JSON`): editing that one value
   * and deploying moves the instance.
   * @param key the context key
   * @param defaultSite used when the context has no such key (default: the fleet's first site)
   */
  static fromContext(key: string, defaultSite?: string): Placement {
    return new (class extends Placement {
      choose(fleet: CloudletFleet, prop: string): string {
        const v: unknown = fleet.node.tryGetContext(key);
        if (v === undefined) return defaultSite === undefined ? fleet.siteNames[0] : Placement.site(defaultSite).choose(fleet, prop);
        if (typeof v !== 'string') fail(fleet, prop, `context ${JSON.stringify(key)} must name a site (${fleet.siteNames.join(', ')}), got ${JSON.stringify(v)}`);
        fleet.check(`${prop} (context ${JSON.stringify(key)})`, v);
        return v;
      }
    })();
  }

  /**
   * The site with the lowest round-trip time to the client, from times measured before synth (each cloudlet's
   * `cloudlet probe` / the engine's POST /v1/probe, in milliseconds; `measureRoundTrips` in examples/fleet does
   * it for every site). A site missing from the map, or unreachable (`Infinity`, `null`), is not chosen; ties go
   * to the earlier site.
   */
  static nearest(roundTripMs: Record<string, number | null | undefined>): Placement {
    return new (class extends Placement {
      choose(fleet: CloudletFleet, prop: string): string {
        for (const k of Object.keys(roundTripMs)) fleet.check(`${prop} (round trips)`, k);
        let best: string | undefined;
        for (const name of fleet.siteNames) {
          const t = roundTripMs[name];
          if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) continue;
          if (best === undefined || t < (roundTripMs[best] as number)) best = name;
        }
        if (best === undefined) fail(fleet, prop, `no site has a measured round-trip time (got ${JSON.stringify(roundTripMs)})`);
        return best;
      }
    })();
  }

  /** The chosen site's name; fails synth naming `prop` when the placement names no site of the fleet. */
  abstract choose(fleet: CloudletFleet, prop: string): string;
}

export interface FleetInstanceProps extends Omit<SynthesizedInstanceProps, 'base' | 'cloudlet'> {
  /** The base VM on every site (`CloudletFleet.baseVm`). */
  readonly bases: Record<string, BaseVm>;
  /**
   * Where the instance runs.
   * @default - the fleet's first site
   */
  readonly placement?: Placement;
}

export class CloudletFleet extends Construct {
  /** The sites' Cloudlets, by site name. */
  readonly sites: Record<string, Cloudlet> = {};
  /** Site names in the order given. */
  readonly siteNames: string[];

  constructor(scope: Construct, id: string, props: CloudletFleetProps) {
    super(scope, id);
    if (!props.sites?.length) fail(this, 'sites', 'a fleet needs at least one site');
    props.sites.forEach((s, i) => {
      checkName(this, `sites[${i}].name`, s.name);
      if (isToken(s.name)) fail(this, `sites[${i}].name`, 'must be known at synth time');
      if (props.sites.findIndex((t) => t.name === s.name) !== i) fail(this, `sites[${i}].name`, `${JSON.stringify(s.name)} is used twice`);
    });
    this.siteNames = props.sites.map((s) => s.name);
    const asPeer = (s: CloudletSite): CloudletPeer => ({ name: s.name, endpoint: s.endpoint, stateDir: s.stateDir, token: s.token, caCert: s.caCert });
    for (const s of props.sites) {
      this.sites[s.name] = new Cloudlet(this, s.name, {
        alias: s.name,
        endpoint: s.endpoint,
        stateDir: s.stateDir,
        token: s.token,
        caCert: s.caCert,
        peers: props.sites.filter((t) => t !== s).map(asPeer),
      });
    }
  }

  /** Fails synth, naming `prop`, unless `name` is a site of this fleet. */
  check(prop: string, name: string): void {
    if (!this.siteNames.includes(name)) fail(this, prop, `${JSON.stringify(name)} is not a site of this fleet (${this.siteNames.join(', ')})`);
  }

  /** A site's Cloudlet by name. */
  site(name: string): Cloudlet {
    this.check('site(name)', name);
    return this.sites[name];
  }

  /** The Cloudlet a placement chooses. */
  choose(placement: Placement): Cloudlet {
    return this.sites[placement.choose(this, 'placement')];
  }

  /** The same base VM imported on every site (by site name); give `sha256` so every site checks it. */
  baseVm(id: string, props: Omit<BaseVmProps, 'cloudlet'>): Record<string, BaseVm> {
    return Object.fromEntries(this.siteNames.map((n) => [n, new BaseVm(this, `${id}-${n}`, { ...props, cloudlet: this.sites[n] })]));
  }

  /**
   * An instance on the site its placement chooses. It depends on the base on every site, so a later change of
   * placement finds the base wherever it goes; the change plans as one in-place update (a handoff).
   */
  instance(scope: Construct, id: string, props: FleetInstanceProps): SynthesizedInstance {
    const { bases, placement, ...rest } = props;
    for (const n of this.siteNames)
      if (!(bases[n] instanceof BaseVm) || bases[n].cloudlet !== this.sites[n]) fail(scope, 'bases', `needs the base on every site (CloudletFleet.baseVm); ${n} has none`);
    const first = this.siteNames[0];
    const inst = new SynthesizedInstance(scope, id, { ...rest, base: bases[first] });
    inst.resource.addOverride(
      'depends_on',
      this.siteNames.map((n) => `${bases[n].resource.terraformResourceType}.${bases[n].resource.friendlyUniqueId}`),
    );
    const chosen = placement ? placement.choose(this, 'placement') : first;
    if (chosen !== first) inst.moveTo(this.sites[chosen]);
    return inst;
  }
}
