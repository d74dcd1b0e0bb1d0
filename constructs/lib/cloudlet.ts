// Cloudlet: one cloudlet as a provider configuration. The embedded default (a local engine the provider starts
// on demand) or a remote engine by endpoint, with its token from an environment variable or a sensitive value.

import { Construct } from 'constructs';
import { TerraformStack } from 'cdktf';
import { CloudletProvider, CloudletProviderPeer } from '../generated/providers/cloudlet/provider';
import { DataCloudletEngine } from '../generated/providers/cloudlet/data-cloudlet-engine';
import { fail, isToken } from './validation';

export interface CloudletPeer {
  /** Name the peer is known by in this configuration. */
  readonly name: string;
  /** The peer engine's API endpoint (`https://host:port`). */
  readonly endpoint: string;
  /** The peer's API token; pass a sensitive value (e.g. a sensitive TerraformVariable), never a literal. */
  readonly token?: string;
  /** PEM of the CA for the peer's certificate. */
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
    if (props.token !== undefined && !isToken(props.token)) fail(this, 'token', 'a literal token would be written to the synthesized configuration; pass a sensitive TerraformVariable value, or leave it unset and export CLOUDLET_TOKEN');
    const peers = props.peers ?? [];
    peers.forEach((p, i) => {
      if (!isToken(p.endpoint) && !/^https?:\/\/[^/\s]+\/?$/.test(p.endpoint)) fail(this, `peers[${i}].endpoint`, `expected http(s)://HOST:PORT, got ${JSON.stringify(p.endpoint)}`);
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
      peer: peers.length ? peers.map((p): CloudletProviderPeer => ({ name: p.name, endpoint: p.endpoint, token: p.token, caCert: p.caCert })) : undefined,
    });
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
