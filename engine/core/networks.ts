// Networks and instance placement on them: the cloudlet's network records (a default one made on first
// use), addresses assigned from them, ports published on the host's address, and the host side built and
// removed as instances come and go (engine/net). Host changes run one at a time; the records are the truth
// the host side is rebuilt from (the engine's nftables table is replaced whole each time).

import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { GUEST_LINK_CIDR, PATTERNS, cidrProblem, cidrsOverlap, ipv4Text, parseCidr, portsProblem } from '../contract/rules';
import { CreateNetworkRequest, InstanceNetworkRecord, NetworkRecord, NetworkViewRecord, PortRequestSpec, PublishedPortRecord } from '../contract/schemas';
import { CloudletError } from '../errors';
import { claim, liveClaims, release } from '../net/claims';
import {
  GUEST_MAC,
  applyHostRules,
  attachmentMac,
  buildRouter,
  defaultPublishAddress,
  ensureNetworkBridge,
  hostKey,
  hostRoutes,
  networkBridgeName,
  removeLink,
  removeRouter,
  routerExists,
  routerNames,
} from '../net/plumbing';
import { InstanceRecord, Store, newId } from '../store/store';
import { GuestNic } from '../vm/domain';
import { createdBy } from './request-context';

/** Where default networks come from: /24s of 10.213.0.0/16, the first one free on this host. */
const DEFAULT_POOL = { cidr: '10.213.0.0/16', prefix: 24 };
/** Host ports assigned when a published port names none. */
const ASSIGNED_PORTS = { first: 20000, last: 32767 };

/** What the service needs of the engine (a part of EngineContext, which holds the service). */
export interface NetworkDeps {
  readonly store: Store;
  readonly settings: { readonly publishAddress?: string };
}

export class NetworkService {
  private chain: Promise<unknown> = Promise.resolve();
  private publishAddr?: string;

  constructor(private readonly ctx: NetworkDeps) {}

  /** The engine's nftables table. */
  private get table(): string {
    return `cloudlet_${hostKey(this.ctx.store.root)}`;
  }

  /** Runs host changes (and the allocations they depend on) one at a time. */
  serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(work, work);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** The host address ports are published on (the engine's --publish-address, else the default route's source). */
  async publishAddress(): Promise<string> {
    this.publishAddr ??= this.ctx.settings.publishAddress ?? (await defaultPublishAddress());
    return this.publishAddr;
  }

  /** The address already known, for answers that must not wait (undefined before the first published port). */
  knownPublishAddress(): string | undefined {
    return this.publishAddr ?? this.ctx.settings.publishAddress;
  }

  list(): NetworkViewRecord[] {
    const instances = this.ctx.store.listInstances();
    return this.ctx.store.listNetworks().map((n) => this.view(n, instances));
  }

  get(idOrName: string): NetworkViewRecord {
    return this.view(this.find(idOrName), this.ctx.store.listInstances());
  }

  private view(n: NetworkRecord, instances: InstanceRecord[]): NetworkViewRecord {
    return { ...n, instances: instances.filter((i) => i.network?.attachments.some((a) => a.networkId === n.id)).map((i) => i.id) };
  }

  find(idOrName: string): NetworkRecord {
    const n = this.ctx.store.getNetwork(idOrName) ?? this.ctx.store.listNetworks().find((x) => x.name === idOrName);
    if (!n) throw new CloudletError('NOT_FOUND', `no network ${idOrName}`);
    return n;
  }

  create(req: CreateNetworkRequest): Promise<NetworkRecord> {
    if (!PATTERNS.name.pattern.test(req.name)) throw new CloudletError('INVALID_ARGUMENT', `name: ${JSON.stringify(req.name)} is not a valid name`);
    if (req.cidr !== undefined) {
      const p = cidrProblem(req.cidr);
      if (p) throw new CloudletError('INVALID_ARGUMENT', `cidr: ${p}`);
    }
    return this.serialized(() => this.createNow(req.name, req.cidr, false));
  }

  private async createNow(name: string, cidr: string | undefined, isDefault: boolean): Promise<NetworkRecord> {
    if (this.ctx.store.listNetworks().some((n) => n.name === name)) throw new CloudletError('CONFLICT', `a network named ${name} already exists`);
    const id = newId('n');
    const owner = this.ctx.store.networkRecord(id);
    const taken = await this.takenRanges();
    let chosen: string | undefined;
    if (cidr !== undefined) {
      const c = parseCidr(cidr);
      const clash = taken.find((t) => cidrsOverlap(c, parseCidr(t.cidr)));
      if (clash) throw new CloudletError('CONFLICT', `cidr: ${cidr} overlaps ${clash.cidr} (${clash.what})`);
      if (!claim('range', cidr, owner)) throw new CloudletError('CONFLICT', `cidr: ${cidr} is claimed by another cloudlet engine on this host`);
      chosen = cidr;
    } else {
      const pool = parseCidr(DEFAULT_POOL.cidr);
      const step = 2 ** (32 - DEFAULT_POOL.prefix);
      for (let a = pool.network; a < pool.network + pool.size && !chosen; a += step) {
        const candidate = `${ipv4Text(a)}/${DEFAULT_POOL.prefix}`;
        if (taken.some((t) => cidrsOverlap(parseCidr(candidate), parseCidr(t.cidr)))) continue;
        if (claim('range', candidate, owner)) chosen = candidate;
      }
      if (!chosen) throw new CloudletError('CONFLICT', `no free /${DEFAULT_POOL.prefix} left in ${DEFAULT_POOL.cidr} on this host; create a network with an explicit cidr`);
    }
    const c = parseCidr(chosen);
    const rec: NetworkRecord = {
      id,
      name,
      cidr: chosen,
      gateway: ipv4Text(c.network + 1),
      created: new Date().toISOString(),
      ...(isDefault ? { default: true } : {}),
      bridge: networkBridgeName(hostKey(this.ctx.store.root, id)),
      ...createdBy(),
    };
    this.ctx.store.putNetwork(rec);
    return rec;
  }

  /** Ranges a new network must not overlap: this cloudlet's, other engines' on this host, the host's routes, the guest link. */
  private async takenRanges(): Promise<{ cidr: string; what: string }[]> {
    const own = this.ctx.store.listNetworks().map((n) => ({ cidr: n.cidr, what: `network ${n.name} of this cloudlet` }));
    const mine = new Set(own.map((o) => o.cidr));
    const others = liveClaims('range')
      .filter((c) => c.value && !mine.has(c.value))
      .map((c) => ({ cidr: c.value, what: 'a network of another cloudlet engine on this host' }));
    const bridges = new Set(this.ctx.store.listNetworks().map((n) => n.bridge));
    const routes = (await hostRoutes()).filter((r) => !bridges.has(r.dev) && /\/\d+$/.test(r.dst)).map((r) => ({ cidr: r.dst, what: `a route of the host on ${r.dev}` }));
    return [...own, ...others, ...routes, { cidr: GUEST_LINK_CIDR, what: 'the link between each guest and its router' }];
  }

  /** Deletes a network no instance is on. */
  delete(idOrName: string): Promise<void> {
    return this.serialized(async () => {
      const n = this.find(idOrName);
      const users = this.view(n, this.ctx.store.listInstances()).instances;
      if (users.length) throw new CloudletError('IN_USE', `network ${n.name} is used by instance(s) ${users.join(', ')}`);
      this.ctx.store.removeNetwork(n.id);
      release('range', n.cidr, this.ctx.store.networkRecord(n.id));
      await removeLink(n.bridge);
    });
  }

  private async defaultNetwork(): Promise<NetworkRecord> {
    return this.ctx.store.listNetworks().find((n) => n.default) ?? this.createNow('default', undefined, true);
  }

  /**
   * Chooses an instance's addresses and host ports (call inside serialized(), and write the instance record
   * before it returns, so the next placement sees them). Networks default to the cloudlet's default network.
   */
  async place(instanceId: string, req: { networks?: string[]; ports?: PortRequestSpec[] }, hasNic: boolean): Promise<InstanceNetworkRecord | undefined> {
    const ports = req.ports ?? [];
    const problem = portsProblem(ports);
    if (problem) throw new CloudletError('INVALID_ARGUMENT', `ports: ${problem}`);
    if (!hasNic) {
      if ((req.networks && req.networks.length) || ports.length)
        throw new CloudletError('CONFLICT', 'the base VM has no network card (it was made before cloudlet networking); make the base again from its disk image to put its instances on networks');
      return undefined;
    }
    const names = req.networks ?? [];
    const nets = req.networks === undefined ? [await this.defaultNetwork()] : names.map((n) => this.find(n));
    if (new Set(nets.map((n) => n.id)).size !== nets.length) throw new CloudletError('INVALID_ARGUMENT', 'networks: a network is named twice');
    if (ports.length && !nets.length) throw new CloudletError('INVALID_ARGUMENT', 'ports: publishing a port needs a network (networks is empty)');
    const key = hostKey(this.ctx.store.root, instanceId);
    const instances = this.ctx.store.listInstances();
    const attachments = nets.map((n, i) => {
      const used = new Set(instances.flatMap((x) => x.network?.attachments.filter((a) => a.networkId === n.id).map((a) => a.address) ?? []));
      const c = parseCidr(n.cidr);
      let address: string | undefined;
      for (let a = c.network + 2; a < c.network + c.size - 1 && !address; a++) if (!used.has(ipv4Text(a))) address = ipv4Text(a);
      if (!address) throw new CloudletError('CONFLICT', `network ${n.name} (${n.cidr}) has no free address left`);
      return { networkId: n.id, network: n.name, address, prefix: c.prefix, mac: attachmentMac(key, i) };
    });
    const owner = this.ctx.store.instance(instanceId).record;
    const published: PublishedPortRecord[] = [];
    try {
      for (const p of ports) {
        const protocol = p.protocol ?? 'tcp';
        const host = p.host ?? (await this.freePort(protocol, owner));
        if (p.host !== undefined) await this.takePort(protocol, p.host, owner);
        published.push({ protocol, guest: p.guest, host });
      }
    } catch (e) {
      for (const p of published) release('port', `${p.protocol}-${p.host}`, owner);
      throw e;
    }
    return { key, attachments, ports: published };
  }

  /** Gives back an instance's host ports (its addresses go with its record). */
  releasePorts(inst: InstanceRecord): void {
    const owner = this.ctx.store.instance(inst.id).record;
    for (const p of inst.network?.ports ?? []) release('port', `${p.protocol}-${p.host}`, owner);
  }

  private async takePort(protocol: 'tcp' | 'udp', port: number, owner: string): Promise<void> {
    const addr = await this.publishAddress();
    if (!(await portFree(protocol, port, addr))) throw new CloudletError('PORT_IN_USE', `ports: host port ${protocol}/${port} is in use on ${addr}`);
    if (!claim('port', `${protocol}-${port}`, owner)) throw new CloudletError('PORT_IN_USE', `ports: host port ${protocol}/${port} is published by another instance on this host`);
  }

  private async freePort(protocol: 'tcp' | 'udp', owner: string): Promise<number> {
    const addr = await this.publishAddress();
    const held = new Set(liveClaims('port').map((c) => c.value));
    for (let p = ASSIGNED_PORTS.first; p <= ASSIGNED_PORTS.last; p++) {
      if (held.has(`${protocol}-${p}`) || !(await portFree(protocol, p, addr))) continue;
      if (claim('port', `${protocol}-${p}`, owner)) return p;
    }
    throw new CloudletError('PORT_IN_USE', `ports: no free host port from ${ASSIGNED_PORTS.first} to ${ASSIGNED_PORTS.last}`);
  }

  /** Where the VM's card plugs in (for its domain XML). */
  nic(inst: InstanceRecord): Omit<GuestNic, 'mac'> | undefined {
    if (!inst.network) return undefined;
    const n = routerNames(inst.network.key);
    return { bridge: n.guestBridge, tap: n.tap };
  }

  /**
   * Builds an instance's host side before its VM starts: the bridges of its networks, its router, and the
   * engine's rules (its published ports). Idempotent: an earlier router is replaced.
   */
  up(inst: InstanceRecord): Promise<void> {
    const placed = inst.network;
    if (!placed) return Promise.resolve();
    return this.serialized(async () => {
      const attachments = [];
      for (const a of placed.attachments) {
        const n = this.ctx.store.getNetwork(a.networkId);
        if (!n) throw new CloudletError('NOT_FOUND', `instance ${inst.id}: its network ${a.network} no longer exists`);
        await ensureNetworkBridge(n.bridge, n.gateway, a.prefix);
        attachments.push({ bridge: n.bridge, address: a.address, prefix: a.prefix, gateway: n.gateway, mac: a.mac });
      }
      await buildRouter({ key: placed.key, attachments, dir: this.ctx.store.routerDir(inst.id) });
      await this.syncNow([inst]);
    });
  }

  /** Builds the instance's host side if it is missing (after a host restart, before a snapshot is restored). */
  async ensureUp(inst: InstanceRecord): Promise<void> {
    if (inst.network && !(await routerExists(inst.network.key))) await this.up(inst);
  }

  /** Removes an instance's router and gives back its ports; call syncHost() once its record is gone. */
  async down(inst: InstanceRecord): Promise<void> {
    if (!inst.network) return;
    const dir = this.ctx.store.routerDir(inst.id);
    await this.serialized(() => removeRouter(inst.network!.key, dir));
    fs.rmSync(dir, { recursive: true, force: true });
    this.releasePorts(inst);
  }

  /** Takes down routers whose instance is gone (a crash between removing an instance and its router). */
  async sweepRouters(): Promise<void> {
    for (const id of this.ctx.store.orphanRouters()) {
      const dir = this.ctx.store.routerDir(id);
      await this.serialized(() => removeRouter(hostKey(this.ctx.store.root, id), dir));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Rebuilds the engine's rules from the records and removes the bridges of networks nobody is on. */
  syncHost(): Promise<void> {
    return this.serialized(() => this.syncNow([]));
  }

  private async syncNow(extra: InstanceRecord[]): Promise<void> {
    const byId = new Map(this.ctx.store.listInstances().map((i) => [i.id, i]));
    for (const i of extra) byId.set(i.id, i);
    const instances = [...byId.values()].filter((i) => i.network);
    const nets = this.ctx.store.listNetworks();
    const inUse = new Set(instances.flatMap((i) => i.network!.attachments.map((a) => a.networkId)));
    const published = instances.flatMap((i) => i.network!.ports.map((p) => ({ protocol: p.protocol, hostPort: p.host, guestPort: p.guest, address: i.network!.attachments[0].address })));
    await applyHostRules({
      table: this.table,
      publishAddress: published.length ? await this.publishAddress() : '127.0.0.1',
      bridges: nets.filter((n) => inUse.has(n.id)).map((n) => ({ name: n.bridge, cidr: n.cidr })),
      published,
    });
    for (const n of nets) if (!inUse.has(n.id)) await removeLink(n.bridge);
  }

  /** A base's first boot: a router with no networks (DHCP only), removed with `remove`. */
  async bootRouter(key: string, dir: string): Promise<{ nic: GuestNic; remove: () => Promise<void> }> {
    await this.serialized(() => buildRouter({ key, attachments: [], dir }));
    const n = routerNames(key);
    return { nic: { bridge: n.guestBridge, tap: n.tap, mac: GUEST_MAC }, remove: () => this.serialized(() => removeRouter(key, dir)) };
  }

  /** Each published port as a URL on the host's address. */
  endpoints(inst: InstanceRecord): string[] {
    const host = this.knownPublishAddress();
    if (!host || !inst.network) return [];
    return inst.network.ports.map((p) => `${p.protocol === 'udp' ? 'udp' : HTTP_PORTS.has(p.guest) ? 'http' : HTTPS_PORTS.has(p.guest) ? 'https' : 'tcp'}://${host}:${p.host}`);
  }
}

/** Guest ports whose endpoint is written as an http:// (https://) URL; any other TCP port is tcp://. */
const HTTP_PORTS = new Set([80, 8000, 8008, 8080]);
const HTTPS_PORTS = new Set([443, 8443]);

/** Whether nothing on this host listens on the port (a bind to it succeeds). */
function portFree(protocol: 'tcp' | 'udp', port: number, address: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (protocol === 'udp') {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, address, () => s.close(() => resolve(true)));
      return;
    }
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: address, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}
