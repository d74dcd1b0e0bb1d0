// The shapes of the engine API's requests and answers, as JSON Schema built with TypeBox. One declaration
// gives both the TypeScript type (`Static<typeof X>`, used by the store, the services, the client, the CLI
// and the provider) and the schema the server validates requests with and the OpenAPI document publishes.
// Schemas with an `$id` become named components of the OpenAPI document. Answers allow properties beyond
// those listed (clients ignore what they do not know); requests do too, so older clients keep working.

import { Static, Type } from '@sinclair/typebox';
import { ERRORS, ErrorCode } from '../errors';
import { PATTERNS, PatternName, RANGES, RangeName, rangeDescription } from './rules';

/** A string keeping one of the shared pattern rules; its description is the error message's tail. */
export function patterned(rule: PatternName, description?: string) {
  const r = PATTERNS[rule];
  return Type.String({ pattern: r.pattern.source, description: description ?? r.description });
}

/** A number within one of the shared range rules. */
export function ranged(rule: RangeName, description?: string) {
  const r = RANGES[rule];
  const o = { minimum: r.minimum, maximum: r.maximum, description: description ?? rangeDescription(rule) };
  return r.integer ? Type.Integer(o) : Type.Number(o);
}

const text = (description: string) => Type.String({ minLength: 1, description });
const requestId = Type.String({ minLength: 1, maxLength: 200, description: 'makes a retried request return the first attempt’s operation; at most 200 characters' });
const timestamp = Type.String({ description: 'ISO 8601 time' });
const errorCode = Type.Union(
  (Object.keys(ERRORS) as ErrorCode[]).map((c) => Type.Literal(c)),
  { description: 'one of the engine’s error codes' },
);
const errorDetail = Type.Object({ code: errorCode, message: Type.String() });
const timings = Type.Record(Type.String(), Type.Number(), {
  description:
    "seconds spent per phase; within an instance restore phase: networkWait (its network still being built), vmRestore (the libvirt restore alone), diskFlushWait (the disk layer's flush after it), guestIdentity (hostname, machine id and clock set in the guest)",
});
/** Which client made an object (its `x-cloudlet-client` header): `terraform`, `cli`, `dashboard`, or another name. */
const createdBy = Type.Optional(Type.String({ description: "the client that made it, from its x-cloudlet-client header: 'terraform', 'cli', 'dashboard', ..." }));

export const ErrorBody = Type.Object({ error: errorDetail }, { $id: 'Error', description: 'Every 4xx and 5xx answer.' });

// ---- objects ----

const baseFile = Type.Object({ sha256: patterned('sha256'), bytes: Type.Integer({ minimum: 0 }) });

export const Base = Type.Object(
  {
    id: patterned('sha256', 'the base’s content address'),
    name: Type.String(),
    created: timestamp,
    disk: Type.Intersect([baseFile, Type.Object({ format: Type.Literal('raw') })]),
    memory: baseFile,
    kernel: Type.Optional(baseFile),
    initrd: Type.Optional(baseFile),
    memoryMiB: Type.Integer(),
    vcpus: Type.Integer(),
    cpuModel: Type.String(),
    machine: Type.Optional(Type.String({ description: 'the machine type its memory snapshot needs (e.g. pc-i440fx-7.2)' })),
    source: Type.String({ description: 'where it came from: an archive path or URL, a disk image, or an instance' }),
    createdBy,
  },
  { $id: 'Base' },
);

export const Overlay = Type.Object(
  {
    id: patterned('sha256', 'the overlay file’s SHA-256'),
    bytes: Type.Integer({ minimum: 0 }),
    baseId: patterned('sha256'),
    created: timestamp,
    source: Type.String(),
    fetched: Type.Optional(Type.Boolean({ description: 'fetched by a synthesis: kept only while an instance uses it' })),
    createdBy,
  },
  { $id: 'Overlay' },
);

/** An overlay as the API shows it: with the signed path (and URL, over TCP) anyone may download it from. */
export const OverlayView = Type.Intersect([Overlay, Type.Object({ downloadPath: Type.String(), downloadUrl: Type.Optional(Type.String()) })], { $id: 'OverlayView' });

export const Network = Type.Object(
  {
    id: Type.String(),
    name: patterned('name'),
    cidr: patterned('cidr'),
    gateway: Type.String({ description: "the host's address on the network (its first address)" }),
    created: timestamp,
    default: Type.Optional(Type.Boolean({ description: 'the network instances join when they name none' })),
    bridge: Type.String({ description: 'the Linux bridge on the cloudlet host (it exists while an instance is on the network)' }),
    createdBy,
  },
  { $id: 'Network' },
);
export const NetworkView = Type.Intersect([Network, Type.Object({ instances: Type.Array(Type.String(), { description: 'ids of the instances on it' }) })], { $id: 'NetworkView' });

const protocol = Type.Union([Type.Literal('tcp'), Type.Literal('udp')]);
export const PublishedPort = Type.Object({
  protocol,
  guest: ranged('port', 'the port inside the guest'),
  host: ranged('port', "the port on the cloudlet host's address"),
});
export const InstanceNetwork = Type.Object(
  {
    key: Type.String({ description: "the short key in the host names of the instance's router (namespace cloudlet-KEY)" }),
    attachments: Type.Array(
      Type.Object({
        networkId: Type.String(),
        network: Type.String(),
        address: Type.String(),
        prefix: Type.Integer(),
        mac: Type.String({ description: 'the MAC address the instance shows on this network' }),
      }),
    ),
    ports: Type.Array(PublishedPort),
  },
  { description: "the instance's addresses on the cloudlet's networks and its published ports" },
);

export const InstanceState = Type.Union([Type.Literal('creating'), Type.Literal('running'), Type.Literal('paused'), Type.Literal('stopped'), Type.Literal('failed')]);

export const Instance = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    baseId: patterned('sha256'),
    overlayId: Type.Optional(patterned('sha256')),
    /** Written by engines before 0.2 (an overlay fetched by this instance); now the overlay record says so. */
    fetchedOverlay: Type.Optional(Type.Boolean()),
    domain: Type.String({ description: 'the libvirt domain name' }),
    state: InstanceState,
    created: timestamp,
    requestId: Type.Optional(Type.String()),
    timings,
    error: Type.Optional(errorDetail),
    handoffIn: Type.Optional(
      Type.Object(
        { id: Type.String(), state: Type.Union([Type.Literal('confirming'), Type.Literal('confirmed')]), source: Type.String() },
        { description: 'a handoff this cloudlet is the destination of, once its copy is restored' },
      ),
    ),
    network: Type.Optional(InstanceNetwork),
    createdBy,
  },
  { $id: 'Instance' },
);

export const InstanceDetail = Type.Intersect(
  [
    Instance,
    Type.Object({
      agentSocket: Type.String({ description: "where libvirt meets the instance's QEMU guest agent, on the engine's host" }),
      consoleLog: Type.String(),
      addresses: Type.Array(Type.String(), { description: "the instance's addresses on its networks, first network first" }),
      endpoints: Type.Array(Type.String(), {
        description: "each published port as a URL on the cloudlet host's address (tcp://HOST:PORT, http://HOST:PORT for guest port 80 or 8080, udp://HOST:PORT)",
      }),
    }),
  ],
  { $id: 'InstanceDetail' },
);

export const OperationState = Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('cancelled')]);

export const Operation = Type.Object(
  {
    id: Type.String(),
    kind: Type.String(),
    state: OperationState,
    phase: Type.String(),
    done: Type.Number(),
    total: Type.Number(),
    target: Type.Optional(Type.Object({ type: Type.Union([Type.Literal('base'), Type.Literal('overlay'), Type.Literal('instance')]), id: Type.String() })),
    requestId: Type.Optional(Type.String()),
    created: timestamp,
    updated: timestamp,
    timings,
    consoleLog: Type.Optional(Type.String({ description: "the guest console of a failed first boot, kept on the engine's host" })),
    notes: Type.Optional(Type.Array(Type.String(), { description: 'steps the operation reached, in order (for example what readiness waited for)' })),
    result: Type.Optional(Type.Unknown()),
    error: Type.Optional(errorDetail),
  },
  { $id: 'Operation' },
);

// ---- what a succeeded operation's `result` holds, by the operation's kind ----

export const BaseResult = Type.Object({ base: Base, cached: Type.Optional(Type.Boolean({ description: 'the cloudlet had the base already' })) }, { $id: 'BaseResult' });
export const OverlayResult = Type.Object({ overlay: Overlay, cached: Type.Optional(Type.Boolean({ description: 'the cloudlet had the overlay already' })) }, { $id: 'OverlayResult' });
export const InstanceResult = Type.Object({ instance: InstanceDetail }, { $id: 'InstanceResult' });
export const HandoffInResult = Type.Object(
  {
    instance: InstanceDetail,
    from: Type.Object({ id: Type.String(), name: Type.String() }),
    bytesReceived: Type.Number(),
    downtimeMs: Type.Union([Type.Number(), Type.Null()], { description: 'from the guest pausing at the source to it running here' }),
    source: Type.Unknown({ description: 'the source’s own counts (its end record, engine/handoff/PROTOCOL.md)' }),
  },
  { $id: 'HandoffInResult' },
);
export const HandoffOutResult = Type.Object({ handedOff: Type.String(), to: Type.Union([Type.String(), Type.Null()]), stats: Type.Unknown() }, { $id: 'HandoffOutResult' });

export const HandoffPushResult = Type.Object(
  {
    peer: Type.String(),
    instance: InstanceDetail,
    bytesReceived: Type.Number(),
    downtimeMs: Type.Union([Type.Number(), Type.Null()]),
    destination: Type.Object({ operation: Type.String({ description: "the destination's handoff-in operation" }), timings }),
  },
  { $id: 'HandoffPushResult' },
);

/** The result of each kind of operation, once it has succeeded. */
export const RESULTS = {
  'import-base': BaseResult,
  'import-base-disk': BaseResult,
  'create-base': BaseResult,
  'import-overlay': OverlayResult,
  'create-overlay': OverlayResult,
  synthesize: InstanceResult,
  'handoff-in': HandoffInResult,
  'handoff-out': HandoffOutResult,
  'handoff-push': HandoffPushResult,
} as const;

export const Accepted = Type.Object({ operation: Operation }, { $id: 'Accepted', description: 'A long job started (or found again by its requestId): poll the operation.' });
export const Deleted = Type.Object({ deleted: Type.String() });

export const CloudletIdentity = Type.Object({ id: Type.String(), name: Type.String() });

export const Check = Type.Object(
  {
    name: Type.String(),
    status: Type.Union([Type.Literal('ok'), Type.Literal('warn'), Type.Literal('fail')], { description: "'fail' blocks real use; 'warn' works, worse" }),
    detail: Type.String(),
    fix: Type.Optional(Type.String({ description: 'what to do about it' })),
  },
  { $id: 'Check' },
);
export const Doctor = Type.Object({ checks: Type.Array(Check), blocking: Type.Boolean({ description: 'whether any check failed' }) }, { $id: 'Doctor' });

export const Info = Type.Object(
  {
    cloudlet: CloudletIdentity,
    engine: Type.Object({ version: Type.String(), stateDir: Type.String(), pid: Type.Integer() }),
    hypervisor: Type.Object({ type: Type.Union([Type.Literal('kvm'), Type.Literal('tcg')]), libvirtUri: Type.String(), embedded: Type.Boolean() }),
    extensions: Type.Object({
      overlayFormats: Type.Array(Type.Integer()),
      compressions: Type.Array(Type.String()),
      baseArchiveFormats: Type.Array(Type.Integer()),
      synthesis: Type.Object({ fromUrl: Type.Boolean(), upload: Type.Boolean(), checkWhileDownloading: Type.Boolean() }),
      handoff: Type.Boolean(),
      handoffProtocol: Type.Integer(),
    }),
    capacity: Type.Object({ cpus: Type.Integer(), memoryBytes: Type.Number(), freeMemoryBytes: Type.Number(), diskFreeBytes: Type.Number() }),
    counts: Type.Object({ bases: Type.Integer(), overlays: Type.Integer(), instances: Type.Integer(), operationsRunning: Type.Integer() }),
    checks: Type.Optional(Type.Array(Check, { description: "the host checks the engine ran at start (cloudlet doctor adds the bases' needs)" })),
  },
  { $id: 'Info' },
);

export const HandoffToken = Type.Object({ token: Type.String({ description: 'secret: lets its holder pull this one instance' }), expires: timestamp, instance: Type.String() });
export const HandoffInfo = Type.Object({ id: Type.String(), name: Type.String(), baseId: patterned('sha256'), state: Type.String(), cloudlet: CloudletIdentity });
export const HandoffConfirmed = Type.Object({ confirmed: Type.Literal(true), instance: Type.String() });
export const ExecResult = Type.Object({
  code: Type.Integer({ description: 'the exit status (128 + the signal for a command killed by one)' }),
  stdout: Type.String(),
  stderr: Type.Optional(Type.String({ description: 'apart from stdout when the guest runs the QEMU guest agent' })),
});
export const OpenApiDocument = Type.Object({ openapi: Type.String() }, { description: 'This API as an OpenAPI 3.1 document.' });

// ---- requests ----

export const ImportBaseArchive = Type.Object(
  {
    source: text('a base archive: a path on the cloudlet host, or a file or http(s) URL'),
    sha256: Type.Optional(patterned('sha256', 'the base id the archive must hold: 64 lowercase hexadecimal digits')),
    name: Type.Optional(Type.String()),
    requestId: Type.Optional(requestId),
  },
  { title: 'archive' },
);

export const ImportBaseDisk = Type.Object(
  {
    disk: text('a disk image (raw or qcow2) on the cloudlet host, booted to make the base'),
    name: patterned('name'),
    memoryMiB: Type.Optional(ranged('memoryMiB')),
    vcpus: Type.Optional(ranged('vcpus')),
    kernel: Type.Optional(text('a kernel to boot directly')),
    initrd: Type.Optional(text('an initrd for the kernel')),
    cmdline: Type.Optional(Type.String()),
    ready: Type.Optional(
      Type.Union([patterned('readiness'), ranged('readySeconds')], {
        description:
          "when the booted VM is saved: 'auto' (default: the strictest the image supports), 'agent' (the QEMU guest agent answers), 'systemd' (boot finished), 'cloud-init' (cloud-init done), 'tcp:PORT' or an http(s) URL answering inside the guest, or seconds",
      }),
    ),
    readyTimeoutSeconds: Type.Optional(ranged('readyTimeoutSeconds')),
    firmware: Type.Optional(Type.Union([Type.Literal('bios'), Type.Literal('uefi')], { description: "the boot firmware: 'bios' (default, SeaBIOS) or 'uefi' (OVMF)" })),
    cloudInit: Type.Optional(
      Type.Object(
        {
          userData: Type.Optional(
            Type.String({ maxLength: RANGES.cloudInitBytes.maximum, description: 'cloud-init user data (#cloud-config, a script, ...); may hold secrets: never stored or logged' }),
          ),
          metaData: Type.Optional(Type.String({ maxLength: RANGES.cloudInitBytes.maximum, description: 'NoCloud meta-data (YAML); default: an instance-id and local-hostname from the base name' })),
          networkConfig: Type.Optional(Type.String({ maxLength: RANGES.cloudInitBytes.maximum, description: 'cloud-init network configuration (version 1 or 2 YAML)' })),
        },
        { additionalProperties: false, description: 'a cloud-init NoCloud seed for the first boot (a CD-ROM labelled cidata, ejected before the memory snapshot)' },
      ),
    ),
    requestId: Type.Optional(requestId),
  },
  { title: 'disk' },
);

export const CaptureBase = Type.Object({ instanceId: text('the instance to capture'), name: patterned('name'), requestId: Type.Optional(requestId) }, { title: 'capture' });

/** Told apart by the first required property of each choice (see check.ts). */
export const ImportBase = Type.Union([ImportBaseArchive, ImportBaseDisk, CaptureBase], {
  description: 'give source (archive path or URL), disk (a disk image to boot) or instanceId (capture a running instance)',
});

export const ImportOverlayUrl = Type.Object(
  { url: text('an http(s) or file URL, or an absolute path'), sha256: Type.Optional(patterned('sha256')), requestId: Type.Optional(requestId) },
  { title: 'url' },
);
export const CaptureOverlay = Type.Object({ instanceId: text('the instance to capture'), level: Type.Optional(ranged('compressionLevel')), requestId: Type.Optional(requestId) }, { title: 'capture' });
export const ImportOverlay = Type.Union([ImportOverlayUrl, CaptureOverlay], { description: 'give url (an overlay to fetch) or instanceId (capture an overlay of a running instance)' });

export const OverlaySpec = Type.Object(
  {
    id: Type.Optional(patterned('sha256', 'an overlay stored here: 64 lowercase hexadecimal digits')),
    url: Type.Optional(text('an overlay to fetch, checked as it downloads')),
    sha256: Type.Optional(patterned('sha256')),
  },
  { description: 'an object with id, url and/or sha256' },
);

export const PortRequest = Type.Object({
  guest: ranged('port', `${rangeDescription('port')} (the port inside the guest)`),
  host: Type.Optional(ranged('port', `${rangeDescription('port')} (the port on the cloudlet host's address; default: a free one the cloudlet picks)`)),
  protocol: Type.Optional(Type.Union([Type.Literal('tcp'), Type.Literal('udp')], { description: "'tcp' (default) or 'udp'" })),
});
const placement = {
  networks: Type.Optional(
    Type.Array(text('a network name or id'), { maxItems: 8, description: "the networks the instance joins, by name or id (default: the cloudlet's default network; [] for none)" }),
  ),
  ports: Type.Optional(Type.Array(PortRequest, { maxItems: RANGES.publishedPorts.maximum, description: "ports published on the cloudlet host's address (needs a network)" })),
};

export const CreateInstance = Type.Object({
  name: patterned('name'),
  baseId: text('the base id (or name) to start from'),
  overlay: Type.Optional(OverlaySpec),
  ...placement,
  requestId: Type.Optional(requestId),
});

export const CreateNetwork = Type.Object({
  name: patterned('name'),
  cidr: Type.Optional(patterned('cidr', 'an IPv4 network in CIDR notation, /16 to /29, in a private range; default: a free /24 in 10.213.0.0/16')),
});

export const ProbeRequest = Type.Object({
  address: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:-]+$', description: 'the client: an IPv4/IPv6 address or a host name' }),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'TCP port to time a connection to (a refusal counts as an answer); default 443' })),
  attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 10, description: 'connections to time; default 3' })),
});
export const Probe = Type.Object(
  {
    address: Type.String(),
    port: Type.Integer(),
    rttMs: Type.Union([Type.Number(), Type.Null()], { description: 'median round trip of the answered attempts, ms; null: no answer' }),
    samples: Type.Array(Type.Union([Type.Number(), Type.Null()])),
  },
  { $id: 'Probe' },
);

export const PowerRequest = Type.Object({ state: Type.Union([Type.Literal('running'), Type.Literal('paused'), Type.Literal('stopped')], { description: "'running', 'paused' or 'stopped'" }) });
const base64Of = (bytes: number) => Type.String({ maxLength: Math.ceil(bytes / 3) * 4, pattern: '^[A-Za-z0-9+/]*={0,2}$', description: `base64, at most ${bytes} bytes decoded` });
export const WriteFileRequest = Type.Object({
  path: patterned('guestPath'),
  contentBase64: base64Of(RANGES.guestFileBytes.maximum),
  mode: Type.Optional(patterned('fileMode')),
});
export const ReadFileQuery = Type.Object({ path: patterned('guestPath') });
export const GuestFile = Type.Object({ path: Type.String(), bytes: Type.Integer({ minimum: 0 }), contentBase64: Type.String() }, { $id: 'GuestFile' });
export const GuestInterfaces = Type.Object(
  {
    interfaces: Type.Array(
      Type.Object({
        name: Type.String(),
        mac: Type.Optional(Type.String()),
        addresses: Type.Array(Type.Object({ type: Type.Union([Type.Literal('ipv4'), Type.Literal('ipv6')]), address: Type.String(), prefix: Type.Integer() })),
      }),
    ),
  },
  { $id: 'GuestInterfaces' },
);
export const ExecRequest = Type.Object({ command: text('a shell command for the guest'), timeoutSeconds: Type.Optional(ranged('commandTimeoutSeconds')) });
export const HandoffTokenRequest = Type.Object({ ttlSeconds: Type.Optional(ranged('handoffTokenTtlSeconds')) });
export const HandoffStreamRequest = Type.Object({ handoffId: text('the destination’s handoff id'), destination: Type.Optional(Type.String()) });

export const HandoffSource = Type.Object(
  {
    endpoint: text('the source engine’s endpoint'),
    token: text('a handoff token from the source (or its API token)'),
    ca: Type.Optional(Type.String({ description: 'PEM of a CA to trust for the source' })),
  },
  { description: 'the cloudlet the instance runs on: { endpoint, token, ca? }' },
);
export const StartHandoff = Type.Object({ source: HandoffSource, instanceId: text('the instance at the source'), ...placement, requestId: Type.Optional(requestId) });

export const Peer = Type.Object(
  {
    name: patterned('name'),
    endpoint: Type.String({ description: "the peer engine's endpoint: http(s)://HOST:PORT or unix:PATH" }),
    ca: Type.Boolean({ description: 'whether a CA certificate is kept to trust it' }),
    created: timestamp,
    createdBy,
  },
  { $id: 'Peer', description: 'another cloudlet this engine can hand instances off to (its token is kept here, never shown)' },
);
export const CreatePeer = Type.Object({
  name: patterned('name'),
  endpoint: Type.String({ pattern: '^(https?://[^\\s]+|unix:/.+)$', description: "the peer engine's endpoint: http(s)://HOST:PORT or unix:PATH" }),
  token: Type.String({ minLength: 16, maxLength: 1024, description: "secret: the peer engine's API token; kept on this engine (mode 0600), never shown or logged" }),
  ca: Type.Optional(Type.String({ maxLength: 65536, description: 'PEM of a CA to trust for an https peer' })),
});
export const HandoffTo = Type.Object({ peer: patterned('name', 'the peer to move the instance to'), ...placement, requestId: Type.Optional(requestId) });

export const DashboardLogin = Type.Object(
  {
    token: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: "the engine's API token" })),
    code: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'a one-time login code (cloudlet dashboard)' })),
  },
  { description: 'give token or code' },
);
export const DashboardSession = Type.Object(
  { csrf: Type.String({ description: 'send it back in the x-cloudlet-csrf header of every request that changes something' }), expires: timestamp },
  { $id: 'DashboardSession' },
);
export const LoginCode = Type.Object({ code: Type.String({ description: 'secret: logs one browser in, once' }), expires: timestamp }, { $id: 'LoginCode' });

export const WaitQuery = Type.Object({ wait: Type.Optional(ranged('waitSeconds')) });
export const UploadQuery = Type.Object({ sha256: Type.Optional(patterned('sha256')) });
export const SignedQuery = Type.Object({ sig: Type.Optional(Type.String()) });

export type BaseRecord = Static<typeof Base>;
export type OverlayRecord = Static<typeof Overlay>;
export type OverlayViewRecord = Static<typeof OverlayView>;
export type InstanceStateName = Static<typeof InstanceState>;
export type NetworkRecord = Static<typeof Network>;
export type NetworkViewRecord = Static<typeof NetworkView>;
export type CreateNetworkRequest = Static<typeof CreateNetwork>;
export type PortRequestSpec = Static<typeof PortRequest>;
export type PublishedPortRecord = Static<typeof PublishedPort>;
export type InstanceNetworkRecord = Static<typeof InstanceNetwork>;
export type InstanceRecord = Static<typeof Instance>;
export type InstanceDetailRecord = Static<typeof InstanceDetail>;
export type OperationStateName = Static<typeof OperationState>;
export type OperationRecord = Static<typeof Operation>;
export type EngineInfo = Static<typeof Info>;
export type ImportBaseRequest = Static<typeof ImportBase>;
export type ImportBaseArchiveRequest = Static<typeof ImportBaseArchive>;
export type ImportBaseDiskRequest = Static<typeof ImportBaseDisk>;
export type CaptureBaseRequest = Static<typeof CaptureBase>;
export type ImportOverlayUrlRequest = Static<typeof ImportOverlayUrl>;
export type CaptureOverlayRequest = Static<typeof CaptureOverlay>;
export type ExecResultRecord = Static<typeof ExecResult>;
export type WriteFileBody = Static<typeof WriteFileRequest>;
export type GuestFileRecord = Static<typeof GuestFile>;
export type GuestInterfacesRecord = Static<typeof GuestInterfaces>;
export type HandoffTokenRecord = Static<typeof HandoffToken>;
export type HandoffInfoRecord = Static<typeof HandoffInfo>;
export type HandoffConfirmedRecord = Static<typeof HandoffConfirmed>;
export type ImportOverlayRequest = Static<typeof ImportOverlay>;
export type CreateInstanceRequest = Static<typeof CreateInstance>;
export type OverlaySpecRequest = Static<typeof OverlaySpec>;
export type HandoffSourceSpec = Static<typeof HandoffSource>;
export type PowerRequest = Static<typeof PowerRequest>;
export type StartHandoffRequest = Static<typeof StartHandoff>;
export type OperationKind = keyof typeof RESULTS;
export type DashboardSessionRecord = Static<typeof DashboardSession>;
export type CheckRecord = Static<typeof Check>;
export type DoctorRecord = Static<typeof Doctor>;
export type PeerRecord = Static<typeof Peer>;
export type CreatePeerRequest = Static<typeof CreatePeer>;
export type HandoffToRequest = Static<typeof HandoffTo>;
export type HandoffPushRecord = Static<typeof HandoffPushResult>;
export type LoginCodeRecord = Static<typeof LoginCode>;
/** An operation whose result, once it succeeds, is a T. */
export type OperationOf<T> = Omit<OperationRecord, 'result'> & { result?: T };
