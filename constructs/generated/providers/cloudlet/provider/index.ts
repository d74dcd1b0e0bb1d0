// https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface CloudletProviderConfig {
  /**
  * PEM of the certificate authority that signed an https engine's certificate, if it is not in the system store.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs#ca_cert CloudletProvider#ca_cert}
  */
  readonly caCert?: string;
  /**
  * The engine API: `unix:/path/engine.sock`, `http://host:port` or `https://host:port`. Default: the `CLOUDLET_ENDPOINT` environment variable, else the local embedded engine for `state_dir`, started in the background when it is not running.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs#endpoint CloudletProvider#endpoint}
  */
  readonly endpoint?: string;
  /**
  * State directory of the local embedded engine, used when no endpoint is set (it takes precedence over `CLOUDLET_ENDPOINT`). Default: `$CLOUDLET_STATE_DIR`, else `$XDG_DATA_HOME/cloudlet`, else `~/.local/share/cloudlet`.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs#state_dir CloudletProvider#state_dir}
  */
  readonly stateDir?: string;
  /**
  * API token of a remote engine. Default: the `CLOUDLET_TOKEN` environment variable. The local embedded engine's token is read from its state directory.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs#token CloudletProvider#token}
  */
  readonly token?: string;
  /**
  * Alias name
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs#alias CloudletProvider#alias}
  */
  readonly alias?: string;
  /**
  * peer block
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs#peer CloudletProvider#peer}
  */
  readonly peer?: CloudletProviderPeer[] | cdktf.IResolvable;
}
export interface CloudletProviderPeer {
  /**
  * PEM of the CA for the peer's certificate.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs#ca_cert CloudletProvider#ca_cert}
  */
  readonly caCert?: string;
  /**
  * The peer engine API endpoint (`https://host:port`, `http://host:port` or `unix:/path`), as this provider and this cloudlet's engine can reach it.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs#endpoint CloudletProvider#endpoint}
  */
  readonly endpoint?: string;
  /**
  * Name the peer is known by in this configuration.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs#name CloudletProvider#name}
  */
  readonly name: string;
  /**
  * State directory of a local embedded engine on this host (instead of `endpoint`; its token is read from there).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs#state_dir CloudletProvider#state_dir}
  */
  readonly stateDir?: string;
  /**
  * API token of the peer engine. Used only to ask the peer for a short-lived handoff token for the one instance being moved; the peer token itself is not sent to this cloudlet's engine nor stored in state.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs#token CloudletProvider#token}
  */
  readonly token?: string;
}

export function cloudletProviderPeerToTerraform(struct?: CloudletProviderPeer | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    ca_cert: cdktf.stringToTerraform(struct!.caCert),
    endpoint: cdktf.stringToTerraform(struct!.endpoint),
    name: cdktf.stringToTerraform(struct!.name),
    state_dir: cdktf.stringToTerraform(struct!.stateDir),
    token: cdktf.stringToTerraform(struct!.token),
  }
}


export function cloudletProviderPeerToHclTerraform(struct?: CloudletProviderPeer | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    ca_cert: {
      value: cdktf.stringToHclTerraform(struct!.caCert),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    endpoint: {
      value: cdktf.stringToHclTerraform(struct!.endpoint),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    name: {
      value: cdktf.stringToHclTerraform(struct!.name),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    state_dir: {
      value: cdktf.stringToHclTerraform(struct!.stateDir),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    token: {
      value: cdktf.stringToHclTerraform(struct!.token),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}


/**
* Represents a {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs cloudlet}
*/
export class CloudletProvider extends cdktf.TerraformProvider {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "cloudlet";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a CloudletProvider resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the CloudletProvider to import
  * @param importFromId The id of the existing CloudletProvider that should be imported. Refer to the {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the CloudletProvider to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "cloudlet", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs cloudlet} Resource
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options CloudletProviderConfig = {}
  */
  public constructor(scope: Construct, id: string, config: CloudletProviderConfig = {}) {
    super(scope, id, {
      terraformResourceType: 'cloudlet',
      terraformGeneratorMetadata: {
        providerName: 'cloudlet',
        providerVersion: '0.1.0',
        providerVersionConstraint: '0.1.0'
      },
      terraformProviderSource: 'cloudlet-iac/cloudlet'
    });
    this._caCert = config.caCert;
    this._endpoint = config.endpoint;
    this._stateDir = config.stateDir;
    this._token = config.token;
    this._alias = config.alias;
    this._peer = config.peer;
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // ca_cert - computed: false, optional: true, required: false
  private _caCert?: string; 
  public get caCert() {
    return this._caCert;
  }
  public set caCert(value: string | undefined) {
    this._caCert = value;
  }
  public resetCaCert() {
    this._caCert = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get caCertInput() {
    return this._caCert;
  }

  // endpoint - computed: false, optional: true, required: false
  private _endpoint?: string; 
  public get endpoint() {
    return this._endpoint;
  }
  public set endpoint(value: string | undefined) {
    this._endpoint = value;
  }
  public resetEndpoint() {
    this._endpoint = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get endpointInput() {
    return this._endpoint;
  }

  // state_dir - computed: false, optional: true, required: false
  private _stateDir?: string; 
  public get stateDir() {
    return this._stateDir;
  }
  public set stateDir(value: string | undefined) {
    this._stateDir = value;
  }
  public resetStateDir() {
    this._stateDir = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get stateDirInput() {
    return this._stateDir;
  }

  // token - computed: false, optional: true, required: false
  private _token?: string; 
  public get token() {
    return this._token;
  }
  public set token(value: string | undefined) {
    this._token = value;
  }
  public resetToken() {
    this._token = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get tokenInput() {
    return this._token;
  }

  // alias - computed: false, optional: true, required: false
  private _alias?: string; 
  public get alias() {
    return this._alias;
  }
  public set alias(value: string | undefined) {
    this._alias = value;
  }
  public resetAlias() {
    this._alias = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get aliasInput() {
    return this._alias;
  }

  // peer - computed: false, optional: true, required: false
  private _peer?: CloudletProviderPeer[] | cdktf.IResolvable; 
  public get peer() {
    return this._peer;
  }
  public set peer(value: CloudletProviderPeer[] | cdktf.IResolvable | undefined) {
    this._peer = value;
  }
  public resetPeer() {
    this._peer = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get peerInput() {
    return this._peer;
  }

  // =========
  // SYNTHESIS
  // =========

  protected synthesizeAttributes(): { [name: string]: any } {
    return {
      ca_cert: cdktf.stringToTerraform(this._caCert),
      endpoint: cdktf.stringToTerraform(this._endpoint),
      state_dir: cdktf.stringToTerraform(this._stateDir),
      token: cdktf.stringToTerraform(this._token),
      alias: cdktf.stringToTerraform(this._alias),
      peer: cdktf.listMapper(cloudletProviderPeerToTerraform, true)(this._peer),
    };
  }

  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
      ca_cert: {
        value: cdktf.stringToHclTerraform(this._caCert),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      endpoint: {
        value: cdktf.stringToHclTerraform(this._endpoint),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      state_dir: {
        value: cdktf.stringToHclTerraform(this._stateDir),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      token: {
        value: cdktf.stringToHclTerraform(this._token),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      alias: {
        value: cdktf.stringToHclTerraform(this._alias),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      peer: {
        value: cdktf.listMapperHcl(cloudletProviderPeerToHclTerraform, true)(this._peer),
        isBlock: true,
        type: "list",
        storageClassType: "CloudletProviderPeerList",
      },
    };

    // remove undefined attributes
    return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined ))
  }
}
