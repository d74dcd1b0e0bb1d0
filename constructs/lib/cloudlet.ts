// Cloudlet: one cloudlet as a provider configuration. The embedded default (a local engine the provider starts
// on demand) or a remote engine by endpoint, with its token from an environment variable or a sensitive value.

import { Construct } from 'constructs';
import { TerraformStack } from 'cdktf';
import { CloudletProvider, CloudletProviderPeer } from '../generated/providers/cloudlet/provider';
import { DataCloudletEngine } from '../generated/providers/cloudlet/data-cloudlet-engine';
import { fail, isToken } from './validation';

/**
 * Another cloudlet this one may take instances from (a handoff's source), by endpoint and token or, for a
 * local engine on the same host, by state directory. `Cloudlet.asPeer()` makes one from a Cloudlet.
 */
export interface CloudletPeer {
  /** Name the peer is known by in this configuration. */
  readonly name: string;
  /**
   * The peer engine's API endpoint (`https://host:port`, `http://host:port` or `unix:/path`).
   * @default - none: give `stateDir` instead
   */
  readonly endpoint?: string;
  /**
   * State directory of a local embedded engine on this host (instead of `endpoint`).
   * @default - none: give `endpoint` instead
   */
  readonly stateDir?: string;
  /**
   * The peer's API token (with `endpoint`); pass a sensitive value (e.g. a sensitive TerraformVariable), never
   * a literal. The provider only uses it to ask the peer for a short-lived handoff token.
   * @default - none (required with `endpoint`)
   */
  readonly token?: string;
  /**
   * PEM of the CA for the peer's certificate.
   * @default - the system store
   */
  readonly caCert?: string;
}

export interface CloudletProps {
  /**
   * The engine API: `unix:/path/engine.sock`, `http://host:port` or `https://host:port`.
   * @default - the local embedded engine for `stateDir`, started on demand
   */
  readonly endpoint?: string;
  /**
   * State directory of the local embedded engine (only without `endpoint`).
   * @default - `$CLOUDLET_STATE_DIR`, else `~/.local/share/cloudlet`, as the provider resolves it
   */
  readonly stateDir?: string;
  /**
   * The engine's API token. Give a sensitive value (a sensitive `TerraformVariable`'s `stringValue`); a literal
   * string would be written to the synthesized JSON and is refused.
   * @default - the provider reads `CLOUDLET_TOKEN` (the embedded engine needs none)
   */
  readonly token?: string;
  /**
   * PEM of the CA that signed an https engine's certificate.
   * @default - the system store
   */
  readonly caCert?: string;
  /**
   * Provider alias. Needed when a stack has more than one cloudlet.
   * @default - none for the first Cloudlet in a stack, the construct id for the others
   */
  readonly alias?: string;
  /**
   * Other cloudlets this one may hand instances off to or from.
   * @default - none
   */
  readonly peers?: CloudletPeer[];
}

const ALIAS_RE = /^[a-zA-Z][a-zA-Z0-9_-]*$/;
const ENDPOINT_RE = /^(unix:\/.+|https?:\/\/[^/\s]+\/?)$/;

export class Cloudlet extends Construct {
  /** Fails synth, naming `prop`, unless `v` is a Cloudlet. */
  static check(scope: Construct, prop: string, v: unknown): asserts v is Cloudlet {
    if (!(v instanceof Cloudlet)) fail(scope, prop, 'a Cloudlet construct is required');
  }

  /** The provider configuration every resource on this cloudlet uses. */
  readonly provider: CloudletProvider;
  private engineData?: DataCloudletEngine;

  constructor(scope: Construct, id: string, props: CloudletProps = {}) {
    super(scope, id);
    if (props.endpoint !== undefined && !isToken(props.endpoint) && !ENDPOINT_RE.test(props.endpoint)) {
      fail(this, 'endpoint', `expected unix:/PATH, http://HOST:PORT or https://HOST:PORT, got ${JSON.stringify(props.endpoint)}`);
    }
    if (props.endpoint !== undefined && props.stateDir !== undefined) fail(this, 'stateDir', 'selects the local embedded engine and cannot be combined with endpoint');
    if (props.token !== undefined && !isToken(props.token))
      fail(this, 'token', 'a literal token would be written to the synthesized configuration; pass a sensitive TerraformVariable value, or leave it unset and export CLOUDLET_TOKEN');
    const peers = props.peers ?? [];
    peers.forEach((p, i) => {
      if (p.endpoint === undefined && p.stateDir === undefined) fail(this, `peers[${i}]`, 'give endpoint (with token) or stateDir');
      if (p.endpoint !== undefined && p.stateDir !== undefined) fail(this, `peers[${i}].stateDir`, 'cannot be combined with endpoint');
      if (p.endpoint !== undefined && !isToken(p.endpoint) && !ENDPOINT_RE.test(p.endpoint))
        fail(this, `peers[${i}].endpoint`, `expected unix:/PATH, http://HOST:PORT or https://HOST:PORT, got ${JSON.stringify(p.endpoint)}`);
      if (p.endpoint !== undefined && p.token === undefined) fail(this, `peers[${i}].token`, 'is required with endpoint (a sensitive value)');
      if (p.token !== undefined && !isToken(p.token)) fail(this, `peers[${i}].token`, 'pass a sensitive value, not a literal');
      if (peers.findIndex((q) => q.name === p.name) !== i) fail(this, `peers[${i}].name`, `${JSON.stringify(p.name)} is used twice`);
    });
    const stack = TerraformStack.of(this);
    const others = stack.node.findAll().filter((c) => c instanceof Cloudlet && c !== this);
    const alias = props.alias ?? (others.length > 0 ? id : undefined);
    if (alias !== undefined && !ALIAS_RE.test(alias)) fail(this, 'alias', `expected letters, digits, _ and -, starting with a letter; got ${JSON.stringify(alias)}`);
    this.provider = new CloudletProvider(this, 'provider', {
      alias,
      endpoint: props.endpoint,
      stateDir: props.stateDir,
      token: props.token,
      caCert: props.caCert,
      peer: peers.length ? peers.map((p): CloudletProviderPeer => ({ name: p.name, endpoint: p.endpoint, stateDir: p.stateDir, token: p.token, caCert: p.caCert })) : undefined,
    });
    this.props = props;
    this.peerCount = peers.length;
  }

  private readonly props: CloudletProps;
  /** How many peers this cloudlet's configuration lists (cloudlets it can take instances from). */
  readonly peerCount: number;

  /**
   * This cloudlet as a peer of another: the same endpoint and token, or the same local state directory.
   * The embedded default without a `stateDir` cannot be named from another configuration: give it one.
   */
  asPeer(name: string = this.node.id): CloudletPeer {
    const p = this.props;
    if (p.endpoint !== undefined) return { name, endpoint: p.endpoint, token: p.token, caCert: p.caCert };
    if (p.stateDir !== undefined) return { name, stateDir: p.stateDir };
    fail(this, 'stateDir', "is needed for this cloudlet to be another cloudlet's peer (the embedded default has no name another configuration can use)");
  }

  /** Facts about the engine (id, hypervisor, extensions), read at plan time. */
  get engine(): DataCloudletEngine {
    this.engineData ??= new DataCloudletEngine(this, 'engine', { provider: this.provider });
    return this.engineData;
  }

  /** The cloudlet's id, as instances report their placement. */
  get cloudletId(): string {
    return this.engine.id;
  }
}
