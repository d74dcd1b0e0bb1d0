// The value rules of the cloudlet API, written once: names, content hashes and bounded numbers. The engine's
// request schemas (schemas.ts) are built from them, the Terraform provider checks attributes against them
// at plan time, and the constructs check props against them at synth time, so a value refused by one is
// refused by all three with the same words. This file imports nothing: the construct library takes it alone.

export interface PatternRule {
  readonly pattern: RegExp;
  /** What a valid value looks like, as the tail of "expected ...". */
  readonly description: string;
}

export interface RangeRule {
  readonly minimum: number;
  readonly maximum: number;
  /** Only whole numbers. */
  readonly integer: boolean;
}

export const PATTERNS = {
  /** Names of bases, instances and customizations: a DNS label, lowercase. */
  name: { pattern: /^[a-z0-9][a-z0-9-]{0,62}$/, description: 'lowercase letters, digits and dashes, starting with a letter or digit, at most 63 characters' },
  /** Base and overlay ids, and every expected file hash: SHA-256, hex. */
  sha256: { pattern: /^[0-9a-f]{64}$/, description: '64 lowercase hexadecimal digits' },
  /** A file's path inside a guest: absolute; no single quote (agent commands travel single-quoted to virsh). */
  guestPath: { pattern: /^\/[^'\u0000]{0,4095}$/, description: 'an absolute path of at most 4096 characters without single quotes' },
  /** A file mode in octal. */
  fileMode: { pattern: /^0?[0-7]{3}$/, description: 'an octal file mode such as 0644' },
  /** When a base VM booted from a disk image is ready to be saved (a number of seconds is also accepted). */
  /** An IPv4 network in CIDR notation, as networks are declared (host bits zero; see cidrProblem for the ranges). */
  cidr: { pattern: /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/([1-9]|[12]\d|3[0-2])$/, description: 'an IPv4 network in CIDR notation such as 10.20.0.0/24' },
  /** A published port's protocol. */
  protocol: { pattern: /^(tcp|udp)$/, description: 'tcp or udp' },
  readiness: {
    pattern: /^(auto|agent|systemd|cloud-init|tcp:(6553[0-5]|655[0-2]\d|65[0-4]\d{2}|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3})|https?:\/\/[A-Za-z0-9._~:/?#[\]@!$&()*+,;=%-]+|\d{1,4}(\.\d+)?)$/,
    description: 'auto, agent, systemd, cloud-init, tcp:PORT (1-65535), an http:// or https:// URL inside the guest, or a number of seconds',
  },
} as const satisfies Record<string, PatternRule>;

export const RANGES = {
  memoryMiB: { minimum: 64, maximum: 65536, integer: true },
  vcpus: { minimum: 1, maximum: 64, integer: true },
  /** zstd level of an overlay's literals. */
  compressionLevel: { minimum: 1, maximum: 19, integer: true },
  /** A command run in a guest (exec, customization). */
  commandTimeoutSeconds: { minimum: 1, maximum: 3600, integer: false },
  /** Seconds to wait after boot instead of asking the guest. */
  readySeconds: { minimum: 0, maximum: 3600, integer: false },
  readyTimeoutSeconds: { minimum: 1, maximum: 86400, integer: false },
  handoffTokenTtlSeconds: { minimum: 10, maximum: 3600, integer: true },
  /** How long one operation poll may be held. */
  waitSeconds: { minimum: 0, maximum: 60, integer: false },
  /** Bytes of one cloud-init document (user-data, meta-data, network-config). */
  cloudInitBytes: { minimum: 0, maximum: 1048576, integer: true },
  /** Bytes of one file written into or read from a guest through the API (the request body is capped at 1 MiB). */
  guestFileBytes: { minimum: 0, maximum: 524288, integer: true },
  /** A TCP or UDP port number (a guest port, or a host port it is published on). */
  port: { minimum: 1, maximum: 65535, integer: true },
  /** How many ports one instance may publish. */
  publishedPorts: { minimum: 0, maximum: 64, integer: true },
} as const satisfies Record<string, RangeRule>;

export type PatternName = keyof typeof PATTERNS;
export type RangeName = keyof typeof RANGES;

/** Why `v` breaks the pattern rule (`expected ..., got ...`), or undefined when it keeps it. */
export function patternProblem(rule: PatternName, v: unknown): string | undefined {
  const r: PatternRule = PATTERNS[rule];
  return typeof v === 'string' && r.pattern.test(v) ? undefined : `expected ${r.description}, got ${JSON.stringify(v)}`;
}

/** What a value within the range rule looks like ("a whole number from 1 to 64"). */
export function rangeDescription(rule: RangeName): string {
  const r: RangeRule = RANGES[rule];
  return `${r.integer ? 'a whole number' : 'a number'} from ${r.minimum} to ${r.maximum}`;
}

/** Why `v` breaks the range rule, or undefined when it keeps it. */
export function rangeProblem(rule: RangeName, v: unknown): string | undefined {
  const r: RangeRule = RANGES[rule];
  const ok = typeof v === 'number' && Number.isFinite(v) && v >= r.minimum && v <= r.maximum && (!r.integer || Number.isInteger(v));
  return ok ? undefined : `expected ${rangeDescription(rule)}, got ${JSON.stringify(v)}`;
}

/** A readiness as users write it (`"cloud-init"`, `"tcp:80"`, `"30"`) turned into the API's value: seconds as a number. */
export function readinessValue(text: string): string | number {
  return /^\d+(\.\d+)?$/.test(text) ? Number(text) : text;
}

/** Why a readiness written as text is not one, or undefined when it is. */
export function readinessProblem(v: unknown): string | undefined {
  const p = patternProblem('readiness', v);
  if (p) return p;
  const value = readinessValue(v as string);
  return typeof value === 'number' ? rangeProblem('readySeconds', value) : undefined;
}

// ---- networks ----

/** Every guest sees the same link to its instance's router namespace (engine/net): networks may not overlap it. */
export const GUEST_LINK_CIDR = '100.64.0.0/29';
/** The smallest and largest network a cloudlet makes (/16: 65534 addresses; /29: 6, the gateway and 5 instances). */
export const NETWORK_PREFIX = { minimum: 16, maximum: 29 } as const;

/** An IPv4 address as a number, or undefined when `s` is not one. */
export function ipv4Value(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((a, p) => a * 256 + Number(p), 0);
}

export function ipv4Text(v: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.');
}

export interface Cidr {
  /** The network address as a number. */
  readonly network: number;
  readonly prefix: number;
  /** How many addresses it spans. */
  readonly size: number;
}

/** A CIDR's numbers; call cidrProblem first (this only parses). */
export function parseCidr(s: string): Cidr {
  const [addr, len] = s.split('/');
  const prefix = Number(len);
  return { network: ipv4Value(addr) ?? 0, prefix, size: 2 ** (32 - prefix) };
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.network < b.network + b.size && b.network < a.network + a.size;
}

/**
 * Why `v` is not a network a cloudlet can make, or undefined: CIDR notation, host bits zero, a prefix from
 * /16 to /29, a private or shared address range (RFC 1918 or 100.64.0.0/10), clear of the guest link.
 */
export function cidrProblem(v: unknown): string | undefined {
  const p = patternProblem('cidr', v);
  if (p) return p;
  const c = parseCidr(v as string);
  const shown = JSON.stringify(v);
  if (c.prefix < NETWORK_PREFIX.minimum || c.prefix > NETWORK_PREFIX.maximum) return `expected a prefix from /${NETWORK_PREFIX.minimum} to /${NETWORK_PREFIX.maximum}, got ${shown}`;
  if (c.network % c.size !== 0) return `expected the network's own address (host bits zero): ${ipv4Text(c.network - (c.network % c.size))}/${c.prefix}, got ${shown}`;
  const inside = (r: string) => {
    const o = parseCidr(r);
    return c.network >= o.network && c.network + c.size <= o.network + o.size;
  };
  if (!['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'].some(inside)) return `expected a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10), got ${shown}`;
  if (cidrsOverlap(c, parseCidr(GUEST_LINK_CIDR))) return `${shown} overlaps ${GUEST_LINK_CIDR}, the link between every guest and its instance's router`;
  return undefined;
}

export interface PortSpec {
  readonly guest: number;
  readonly host?: number;
  readonly protocol?: string;
}

/** Why a list of published ports is not one (a bad number, a repeated guest or host port), or undefined. */
export function portsProblem(ports: readonly PortSpec[]): string | undefined {
  const seenGuest = new Set<string>();
  const seenHost = new Set<string>();
  for (const [i, p] of ports.entries()) {
    const proto = p.protocol ?? 'tcp';
    const bad = patternProblem('protocol', proto) ?? rangeProblem('port', p.guest) ?? (p.host === undefined ? undefined : rangeProblem('port', p.host));
    if (bad) return `port ${i + 1}: ${bad}`;
    const g = `${proto}/${p.guest}`;
    if (seenGuest.has(g)) return `port ${i + 1}: guest port ${g} is published twice`;
    seenGuest.add(g);
    if (p.host !== undefined) {
      const h = `${proto}/${p.host}`;
      if (seenHost.has(h)) return `port ${i + 1}: host port ${h} is given twice`;
      seenHost.add(h);
    }
  }
  return ports.length > RANGES.publishedPorts.maximum ? `at most ${RANGES.publishedPorts.maximum} ports, got ${ports.length}` : undefined;
}
