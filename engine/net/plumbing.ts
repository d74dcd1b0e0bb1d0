// What the engine builds in the host's network stack (the design and its trade-offs: engine/README.md,
// "Networking"). Every guest sees one link, the same for all of them: its NIC, 100.64.0.2/29, gateway
// 100.64.0.1, leased by a dnsmasq that never expires the lease. That link ends in the instance's own network
// namespace, a small router, which holds the instance's addresses on the cloudlet's networks and translates
// 1:1 between each of them and the guest's one address. So the N instances restored from one memory snapshot,
// which all believe they are 100.64.0.2 with the same MAC, each have their own reachable addresses, with no
// reboot and nothing changed inside the guest; a handoff's destination builds the router before the VM
// arrives, and the guest never notices the move.
//
//   guest NIC ── tap clt<k> ─┐ (made by libvirt)
//                bridge clg<k> ── veth clv<k> ═══ gw 100.64.0.1/29 ┐  namespace cloudlet-<k>:
//                                                                   │  DNAT address_n → 100.64.0.2
//   network bridge clb<n> (gateway .1) ── veth cla<k><i> ═══ n<i>  ┘  SNAT 100.64.0.2 → address_n
//
// Host side, one nftables table per engine (`inet cloudlet_<e>`, replaced whole and atomically from the
// engine's records): new connections from a network bridge into the host are dropped (the engine's API
// included), nothing is forwarded between networks or out of them, and published ports are DNAT rules from
// the host's address to an instance's address. Interface names are short hashes (15 characters at most).

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GUEST_LINK_CIDR } from '../contract/rules';
import { CloudletError } from '../errors';
import { ipBatch, mustRun, nftApply, runTool } from './host-tools';

/** The guest's side of its link: the same in every guest (it is in the memory snapshot). */
export const GUEST_LINK = { cidr: GUEST_LINK_CIDR, guest: '100.64.0.2', gateway: '100.64.0.1', prefix: 29, netmask: '255.255.255.248' } as const;
/** The MAC address of every guest NIC (each guest is alone on its link, so one MAC serves all). */
export const GUEST_MAC = '52:54:00:64:00:02';
/** At most this many networks per instance (attachment names carry one hex digit). */
export const MAX_ATTACHMENTS = 8;

/** A short hex key for host-side names, from what must be unique on the host (state dir + object id). */
export function hostKey(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 8);
}

export interface RouterNames {
  netns: string;
  guestBridge: string;
  guestVeth: string;
  tap: string;
  attachment(i: number): string;
}

export function routerNames(key: string): RouterNames {
  return { netns: `cloudlet-${key}`, guestBridge: `clg${key}`, guestVeth: `clv${key}`, tap: `clt${key}`, attachment: (i) => `cla${key}${i.toString(16)}` };
}

export function networkBridgeName(key: string): string {
  return `clb${key}`;
}

/** One of an instance's addresses: on a network bridge, with the MAC its namespace shows there. */
export interface RouterAttachment {
  bridge: string;
  address: string;
  prefix: number;
  gateway: string;
  mac: string;
}

export interface RouterSpec {
  key: string;
  attachments: RouterAttachment[];
  /** Where the router's dnsmasq keeps its pid, lease and log files. */
  dir: string;
}

function disableIpv6(iface: string): void {
  // Our links carry IPv4 only: a guest must not find the host over an IPv6 link-local address either.
  try {
    fs.writeFileSync(`/proc/sys/net/ipv6/conf/${iface}/disable_ipv6`, '1');
  } catch {
    // no IPv6 on this host
  }
}

async function linkExists(name: string): Promise<boolean> {
  return (await runTool('ip', ['link', 'show', 'dev', name])).code === 0;
}

async function netnsExists(name: string): Promise<boolean> {
  return fs.existsSync(`/run/netns/${name}`);
}

/** A deterministic locally administered MAC for an instance's address on a network. */
export function attachmentMac(key: string, i: number): string {
  const h = createHash('sha256').update(`${key}/${i}`).digest();
  return ['02', ...[0, 1, 2, 3, 4].map((j) => h[j].toString(16).padStart(2, '0'))].join(':');
}

/** The network's bridge on the host, with the gateway address; made if missing. */
export async function ensureNetworkBridge(bridge: string, gateway: string, prefix: number): Promise<void> {
  if (!(await linkExists(bridge))) {
    await ipBatch(`creating bridge ${bridge}`, [`link add ${bridge} type bridge`]);
  }
  disableIpv6(bridge);
  const addrs = await mustRun(`reading ${bridge}`, 'ip', ['-j', 'addr', 'show', 'dev', bridge]);
  const has = (JSON.parse(addrs) as { addr_info?: { local: string; prefixlen: number }[] }[]).some((l) => (l.addr_info ?? []).some((a) => a.local === gateway && a.prefixlen === prefix));
  await ipBatch(`configuring bridge ${bridge}`, [...(has ? [] : [`addr add ${gateway}/${prefix} dev ${bridge}`]), `link set ${bridge} up`]);
}

/**
 * Removes a host link if it is there. A veth whose peer was in a namespace just deleted goes away on its own, a
 * moment later (the kernel tears namespaces down asynchronously): a link that vanished under the delete is gone,
 * which is what was asked, not an error.
 */
export async function removeLink(name: string): Promise<void> {
  if (!(await linkExists(name))) return;
  try {
    await ipBatch(`removing ${name}`, [`link del ${name}`]);
  } catch (e) {
    if (await linkExists(name)) throw e;
  }
}

function dnsmasqFiles(dir: string) {
  return { pid: path.join(dir, 'dnsmasq.pid'), leases: path.join(dir, 'dnsmasq.leases'), log: path.join(dir, 'dnsmasq.log') };
}

/**
 * Builds an instance's router from nothing (whatever an earlier one left is removed first). Call it before the
 * VM starts: libvirt puts the VM's tap on the router's guest bridge.
 */
export async function buildRouter(spec: RouterSpec): Promise<void> {
  if (spec.attachments.length > MAX_ATTACHMENTS) throw new CloudletError('INVALID_ARGUMENT', `networks: at most ${MAX_ATTACHMENTS} per instance`);
  await removeRouter(spec.key, spec.dir);
  const n = routerNames(spec.key);
  // The directory first: it is how a router left by a crash is found again (NetworkService.sweepRouters).
  fs.mkdirSync(spec.dir, { recursive: true });
  try {
    const host = [
      `netns add ${n.netns}`,
      `link add ${n.guestBridge} type bridge`,
      `link add ${n.guestVeth} type veth peer name gw netns ${n.netns}`,
      `link set ${n.guestVeth} master ${n.guestBridge} up`,
      `link set ${n.guestBridge} up`,
    ];
    spec.attachments.forEach((a, i) => host.push(`link add ${n.attachment(i)} type veth peer name n${i} netns ${n.netns}`, `link set ${n.attachment(i)} master ${a.bridge} up`));
    await ipBatch(`building the router of ${n.netns}`, host);
    for (const l of [n.guestBridge, n.guestVeth, ...spec.attachments.map((_a, i) => n.attachment(i))]) disableIpv6(l);
    const inside = ['link set lo up', `addr add ${GUEST_LINK.gateway}/${GUEST_LINK.prefix} dev gw`, 'link set gw up'];
    spec.attachments.forEach((a, i) => inside.push(`link set n${i} address ${a.mac}`, `addr add ${a.address}/${a.prefix} dev n${i}`, `link set n${i} up`));
    if (spec.attachments.length) inside.push(`route add default via ${spec.attachments[0].gateway} dev n0`);
    await ipBatch(`configuring the router of ${n.netns}`, inside, n.netns);
    await mustRun(`configuring ${n.netns}`, 'ip', [
      'netns',
      'exec',
      n.netns,
      'sh',
      '-c',
      'echo 1 > /proc/sys/net/ipv4/ip_forward; [ ! -e /proc/sys/net/ipv6/conf/all/disable_ipv6 ] || echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6',
    ]);
    await nftApply(`the translation rules of ${n.netns}`, routerRules(spec.attachments), n.netns);
    const f = dnsmasqFiles(spec.dir);
    // DHCP for the guest's one address, leased forever: a guest restored from a snapshot holds the lease
    // it was saved with and never asks again; a guest that reboots gets the same address back.
    await mustRun(`starting DHCP in ${n.netns}`, 'ip', [
      'netns',
      'exec',
      n.netns,
      'dnsmasq',
      '--conf-file=/dev/null',
      '--port=0',
      '--interface=gw',
      '--bind-interfaces',
      '--user=root',
      '--dhcp-authoritative',
      `--dhcp-range=${GUEST_LINK.guest},${GUEST_LINK.guest},${GUEST_LINK.netmask},infinite`,
      `--dhcp-option=option:router,${GUEST_LINK.gateway}`,
      '--dhcp-option=option:dns-server',
      `--dhcp-leasefile=${f.leases}`,
      `--pid-file=${f.pid}`,
      `--log-facility=${f.log}`,
    ]);
  } catch (e) {
    await removeRouter(spec.key, spec.dir).catch(() => undefined);
    throw e;
  }
}

function routerRules(attachments: RouterAttachment[]): string {
  const dnat = attachments.map((a, i) => `    iifname "n${i}" ip daddr ${a.address} dnat to ${GUEST_LINK.guest}`).join('\n');
  const snat = attachments.map((a, i) => `    oifname "n${i}" ip saddr ${GUEST_LINK.guest} snat to ${a.address}`).join('\n');
  return `table ip cloudlet {}
delete table ip cloudlet
table ip cloudlet {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
${dnat}
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
${snat}
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    iifname "gw" ip saddr ${GUEST_LINK.guest} oifname != "gw" accept
    oifname "gw" ct state established,related accept
    oifname "gw" ct status dnat accept
  }
  chain input {
    type filter hook input priority filter; policy drop;
    iifname "lo" accept
    iifname "gw" udp dport 67 accept
    ct state established,related accept
  }
}
`;
}

/** Removes an instance's router: its DHCP server, namespace (and with it the links' inner ends) and guest bridge. */
export async function removeRouter(key: string, dir: string): Promise<void> {
  const n = routerNames(key);
  const f = dnsmasqFiles(dir);
  try {
    const pid = Number(fs.readFileSync(f.pid, 'utf8').trim());
    if (pid > 1 && /dnsmasq/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1'))) process.kill(pid, 'SIGTERM');
  } catch {
    // not running
  }
  for (const file of Object.values(f)) fs.rmSync(file, { force: true });
  if (await netnsExists(n.netns)) await ipBatch(`removing ${n.netns}`, [`netns del ${n.netns}`]);
  await removeLink(n.guestBridge);
  await removeLink(n.guestVeth);
}

export async function routerExists(key: string): Promise<boolean> {
  return netnsExists(routerNames(key).netns);
}

/** A port published on the host's address to one instance address. */
export interface PublishedRule {
  protocol: 'tcp' | 'udp';
  hostPort: number;
  address: string;
  guestPort: number;
}

export interface HostRules {
  /** The engine's table name (`cloudlet_<key>`). */
  table: string;
  /** The host address ports are published on. */
  publishAddress: string;
  bridges: { name: string; cidr: string }[];
  published: PublishedRule[];
}

/**
 * Replaces the engine's nftables table with one made from `r`, in one transaction (the rules are never seen
 * half-written); with no bridges and no ports the table goes.
 */
export async function applyHostRules(r: HostRules): Promise<void> {
  const reset = `table inet ${r.table} {}\ndelete table inet ${r.table}\n`;
  if (!r.bridges.length && !r.published.length) {
    await nftApply('removing the engine rules', reset);
    return;
  }
  const names = r.bridges.map((b) => `"${b.name}"`).join(', ');
  const set = `  set nets {\n    type ifname\n${names ? `    elements = { ${names} }\n` : ''}  }`;
  const dnat = r.published.map((p) => `    ip daddr ${r.publishAddress} ${p.protocol} dport ${p.hostPort} dnat ip to ${p.address}:${p.guestPort}`).join('\n');
  const same = r.bridges.map((b) => `    iifname "${b.name}" oifname "${b.name}" accept`).join('\n');
  const script = `${reset}table inet ${r.table} {
${set}
  chain input {
    type filter hook input priority filter - 1; policy accept;
    iifname @nets ct state established,related accept
    iifname @nets drop
  }
  chain forward {
    type filter hook forward priority filter - 1; policy accept;
${same}
    oifname @nets ct state established,related accept
    oifname @nets ct status dnat accept
    iifname @nets ct state established,related accept
    iifname @nets drop
    oifname @nets drop
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
${dnat}
  }
  chain output {
    type nat hook output priority -100; policy accept;
${dnat}
  }
}
`;
  await nftApply('the engine rules', script);
  if (r.published.length) {
    // Published ports reach guests from other hosts only if the host forwards IPv4.
    try {
      if (fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() !== '1') fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    } catch (e) {
      throw new CloudletError('NETWORK_FAILED', `cannot turn on IPv4 forwarding (/proc/sys/net/ipv4/ip_forward): ${(e as Error).message}`);
    }
  }
}

/** The host's own address for published ports: the source address of its default route, else its first global one. */
export async function defaultPublishAddress(): Promise<string> {
  const route = await runTool('ip', ['-j', '-4', 'route', 'get', '1.1.1.1']);
  if (route.code === 0) {
    const src = (JSON.parse(route.stdout) as { prefsrc?: string }[])[0]?.prefsrc;
    if (src && !src.startsWith('127.')) return src;
  }
  const addrs = JSON.parse(await mustRun('reading host addresses', 'ip', ['-j', '-4', 'addr', 'show', 'scope', 'global'])) as { ifname: string; addr_info?: { local: string }[] }[];
  for (const l of addrs) {
    if (/^cl[bgvta][0-9a-f]{8}/.test(l.ifname)) continue; // the engine's own bridges and links
    const a = l.addr_info?.[0]?.local;
    if (a) return a;
  }
  throw new CloudletError('NETWORK_FAILED', 'this host has no global IPv4 address to publish ports on; set the engine option --publish-address');
}

/** The IPv4 networks the host routes already (its own interfaces'), to refuse a network overlapping one. */
export async function hostRoutes(): Promise<{ dst: string; dev: string }[]> {
  const out = await mustRun('reading host routes', 'ip', ['-j', '-4', 'route', 'show']);
  return (JSON.parse(out) as { dst: string; dev: string }[]).filter((r) => r.dst !== 'default');
}
