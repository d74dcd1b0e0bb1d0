// https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface BaseVmConfig extends cdktf.TerraformMetaArguments {
  /**
  * For a `disk_image` booted with `kernel`: the kernel command line.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#cmdline BaseVm#cmdline}
  */
  readonly cmdline?: string;
  /**
  * Path of a bootable disk image (qcow2 or raw) on the engine host (relative paths are resolved from Terraform's working directory) to make the base from: the engine converts a copy to raw, boots it with its own boot loader (or `kernel`), waits as `ready` says, and snapshots its memory. The image itself is not changed.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#disk_image BaseVm#disk_image}
  */
  readonly diskImage?: string;
  /**
  * For a `disk_image`: `bios` (default) or `uefi` (OVMF, Debian package ovmf on the cloudlet host).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#firmware BaseVm#firmware}
  */
  readonly firmware?: string;
  /**
  * For a `disk_image` booted with `kernel`: its initrd.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#initrd BaseVm#initrd}
  */
  readonly initrd?: string;
  /**
  * Leave the base on the cloudlet when this resource is destroyed (bases are large and may be shared). Default false.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#keep_on_destroy BaseVm#keep_on_destroy}
  */
  readonly keepOnDestroy?: boolean | cdktf.IResolvable;
  /**
  * For a `disk_image`: a kernel to boot directly instead of the image's boot loader.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#kernel BaseVm#kernel}
  */
  readonly kernel?: string;
  /**
  * Guest memory, in MiB, for a `disk_image` (default 256); instances of this base have the same.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#memory_mib BaseVm#memory_mib}
  */
  readonly memoryMib?: number;
  /**
  * The base's name: set it for a `disk_image` (required there); for an archive, the name recorded in it.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#name BaseVm#name}
  */
  readonly name?: string;
  /**
  * For a `disk_image`: when to snapshot it. `auto` (default: the strictest the image supports: the guest agent, then cloud-init done, then systemd boot finished), `agent` (the QEMU guest agent answers), `systemd` (`systemctl is-system-running --wait`), `cloud-init` (`cloud-init status --wait`), `tcp:PORT` or an `http://` URL answering inside the guest, or a number of seconds after boot.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#ready BaseVm#ready}
  */
  readonly ready?: string;
  /**
  * For a `disk_image`: how long readiness may take (default 600). A timeout fails with the end of the guest console, which is kept on the engine host.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#ready_timeout_seconds BaseVm#ready_timeout_seconds}
  */
  readonly readyTimeoutSeconds?: number;
  /**
  * The expected base id. The import fails if the archive holds another base, and nothing is downloaded when the cloudlet already has it.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#sha256 BaseVm#sha256}
  */
  readonly sha256?: string;
  /**
  * Path or http(s)/file URL of the base archive. A path is read by the engine on its host (relative paths are resolved from Terraform's working directory). Changing it replaces the base unless `sha256` pins the same base. Give `source` or `disk_image`.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#source BaseVm#source}
  */
  readonly source?: string;
  /**
  * Virtual CPUs for a `disk_image` (default 1); instances of this base have the same.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#vcpus BaseVm#vcpus}
  */
  readonly vcpus?: number;
  /**
  * cloud_init block
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#cloud_init BaseVm#cloud_init}
  */
  readonly cloudInit?: BaseVmCloudInit;
  /**
  * timeouts block
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#timeouts BaseVm#timeouts}
  */
  readonly timeouts?: BaseVmTimeouts;
}
export interface BaseVmCloudInit {
  /**
  * NoCloud meta-data (YAML). Default: an `instance-id` and `local-hostname` from the base name.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#meta_data BaseVm#meta_data}
  */
  readonly metaData?: string;
  /**
  * cloud-init network configuration (version 1 or 2). Sensitive: it may hold Wi-Fi or VPN secrets.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#network_config BaseVm#network_config}
  */
  readonly networkConfig?: string;
  /**
  * User data (`#cloud-config` with users, ssh keys, write_files, runcmd; or a script). Sensitive: it may hold passwords and keys.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#user_data BaseVm#user_data}
  */
  readonly userData?: string;
}

export function baseVmCloudInitToTerraform(struct?: BaseVmCloudInit | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    meta_data: cdktf.stringToTerraform(struct!.metaData),
    network_config: cdktf.stringToTerraform(struct!.networkConfig),
    user_data: cdktf.stringToTerraform(struct!.userData),
  }
}


export function baseVmCloudInitToHclTerraform(struct?: BaseVmCloudInit | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    meta_data: {
      value: cdktf.stringToHclTerraform(struct!.metaData),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    network_config: {
      value: cdktf.stringToHclTerraform(struct!.networkConfig),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    user_data: {
      value: cdktf.stringToHclTerraform(struct!.userData),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class BaseVmCloudInitOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): BaseVmCloudInit | cdktf.IResolvable | undefined {
    if (this.resolvableValue) {
      return this.resolvableValue;
    }
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    if (this._metaData !== undefined) {
      hasAnyValues = true;
      internalValueResult.metaData = this._metaData;
    }
    if (this._networkConfig !== undefined) {
      hasAnyValues = true;
      internalValueResult.networkConfig = this._networkConfig;
    }
    if (this._userData !== undefined) {
      hasAnyValues = true;
      internalValueResult.userData = this._userData;
    }
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: BaseVmCloudInit | cdktf.IResolvable | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this.resolvableValue = undefined;
      this._metaData = undefined;
      this._networkConfig = undefined;
      this._userData = undefined;
    }
    else if (cdktf.Tokenization.isResolvable(value)) {
      this.isEmptyObject = false;
      this.resolvableValue = value;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
      this.resolvableValue = undefined;
      this._metaData = value.metaData;
      this._networkConfig = value.networkConfig;
      this._userData = value.userData;
    }
  }

  // meta_data - computed: false, optional: true, required: false
  private _metaData?: string; 
  public get metaData() {
    return this.getStringAttribute('meta_data');
  }
  public set metaData(value: string) {
    this._metaData = value;
  }
  public resetMetaData() {
    this._metaData = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get metaDataInput() {
    return this._metaData;
  }

  // network_config - computed: false, optional: true, required: false
  private _networkConfig?: string; 
  public get networkConfig() {
    return this.getStringAttribute('network_config');
  }
  public set networkConfig(value: string) {
    this._networkConfig = value;
  }
  public resetNetworkConfig() {
    this._networkConfig = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get networkConfigInput() {
    return this._networkConfig;
  }

  // user_data - computed: false, optional: true, required: false
  private _userData?: string; 
  public get userData() {
    return this.getStringAttribute('user_data');
  }
  public set userData(value: string) {
    this._userData = value;
  }
  public resetUserData() {
    this._userData = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get userDataInput() {
    return this._userData;
  }
}
export interface BaseVmTimeouts {
  /**
  * How long create may take before it is cancelled on the engine, as a duration like "30m" or "1h30m". Default 30m.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#create BaseVm#create}
  */
  readonly create?: string;
  /**
  * How long delete may take before it is cancelled on the engine, as a duration like "30m" or "1h30m". Default 5m.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#delete BaseVm#delete}
  */
  readonly delete?: string;
}

export function baseVmTimeoutsToTerraform(struct?: BaseVmTimeouts | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    create: cdktf.stringToTerraform(struct!.create),
    delete: cdktf.stringToTerraform(struct!.delete),
  }
}


export function baseVmTimeoutsToHclTerraform(struct?: BaseVmTimeouts | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    create: {
      value: cdktf.stringToHclTerraform(struct!.create),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    delete: {
      value: cdktf.stringToHclTerraform(struct!.delete),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class BaseVmTimeoutsOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): BaseVmTimeouts | cdktf.IResolvable | undefined {
    if (this.resolvableValue) {
      return this.resolvableValue;
    }
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    if (this._create !== undefined) {
      hasAnyValues = true;
      internalValueResult.create = this._create;
    }
    if (this._delete !== undefined) {
      hasAnyValues = true;
      internalValueResult.delete = this._delete;
    }
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: BaseVmTimeouts | cdktf.IResolvable | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this.resolvableValue = undefined;
      this._create = undefined;
      this._delete = undefined;
    }
    else if (cdktf.Tokenization.isResolvable(value)) {
      this.isEmptyObject = false;
      this.resolvableValue = value;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
      this.resolvableValue = undefined;
      this._create = value.create;
      this._delete = value.delete;
    }
  }

  // create - computed: false, optional: true, required: false
  private _create?: string; 
  public get create() {
    return this.getStringAttribute('create');
  }
  public set create(value: string) {
    this._create = value;
  }
  public resetCreate() {
    this._create = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get createInput() {
    return this._create;
  }

  // delete - computed: false, optional: true, required: false
  private _delete?: string; 
  public get delete() {
    return this.getStringAttribute('delete');
  }
  public set delete(value: string) {
    this._delete = value;
  }
  public resetDelete() {
    this._delete = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get deleteInput() {
    return this._delete;
  }
}

/**
* Represents a {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm cloudlet_base_vm}
*/
export class BaseVm extends cdktf.TerraformResource {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "cloudlet_base_vm";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a BaseVm resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the BaseVm to import
  * @param importFromId The id of the existing BaseVm that should be imported. Refer to the {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the BaseVm to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "cloudlet_base_vm", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm cloudlet_base_vm} Resource
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options BaseVmConfig = {}
  */
  public constructor(scope: Construct, id: string, config: BaseVmConfig = {}) {
    super(scope, id, {
      terraformResourceType: 'cloudlet_base_vm',
      terraformGeneratorMetadata: {
        providerName: 'cloudlet',
        providerVersion: '0.1.0',
        providerVersionConstraint: '0.1.0'
      },
      provider: config.provider,
      dependsOn: config.dependsOn,
      count: config.count,
      lifecycle: config.lifecycle,
      provisioners: config.provisioners,
      connection: config.connection,
      forEach: config.forEach
    });
    this._cmdline = config.cmdline;
    this._diskImage = config.diskImage;
    this._firmware = config.firmware;
    this._initrd = config.initrd;
    this._keepOnDestroy = config.keepOnDestroy;
    this._kernel = config.kernel;
    this._memoryMib = config.memoryMib;
    this._name = config.name;
    this._ready = config.ready;
    this._readyTimeoutSeconds = config.readyTimeoutSeconds;
    this._sha256 = config.sha256;
    this._source = config.source;
    this._vcpus = config.vcpus;
    this._cloudInit.internalValue = config.cloudInit;
    this._timeouts.internalValue = config.timeouts;
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // cloudlet - computed: true, optional: false, required: false
  public get cloudlet() {
    return this.getStringAttribute('cloudlet');
  }

  // cmdline - computed: false, optional: true, required: false
  private _cmdline?: string; 
  public get cmdline() {
    return this.getStringAttribute('cmdline');
  }
  public set cmdline(value: string) {
    this._cmdline = value;
  }
  public resetCmdline() {
    this._cmdline = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get cmdlineInput() {
    return this._cmdline;
  }

  // cpu_model - computed: true, optional: false, required: false
  public get cpuModel() {
    return this.getStringAttribute('cpu_model');
  }

  // disk_bytes - computed: true, optional: false, required: false
  public get diskBytes() {
    return this.getNumberAttribute('disk_bytes');
  }

  // disk_image - computed: false, optional: true, required: false
  private _diskImage?: string; 
  public get diskImage() {
    return this.getStringAttribute('disk_image');
  }
  public set diskImage(value: string) {
    this._diskImage = value;
  }
  public resetDiskImage() {
    this._diskImage = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get diskImageInput() {
    return this._diskImage;
  }

  // firmware - computed: false, optional: true, required: false
  private _firmware?: string; 
  public get firmware() {
    return this.getStringAttribute('firmware');
  }
  public set firmware(value: string) {
    this._firmware = value;
  }
  public resetFirmware() {
    this._firmware = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get firmwareInput() {
    return this._firmware;
  }

  // id - computed: true, optional: false, required: false
  public get id() {
    return this.getStringAttribute('id');
  }

  // initrd - computed: false, optional: true, required: false
  private _initrd?: string; 
  public get initrd() {
    return this.getStringAttribute('initrd');
  }
  public set initrd(value: string) {
    this._initrd = value;
  }
  public resetInitrd() {
    this._initrd = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get initrdInput() {
    return this._initrd;
  }

  // keep_on_destroy - computed: true, optional: true, required: false
  private _keepOnDestroy?: boolean | cdktf.IResolvable; 
  public get keepOnDestroy() {
    return this.getBooleanAttribute('keep_on_destroy');
  }
  public set keepOnDestroy(value: boolean | cdktf.IResolvable) {
    this._keepOnDestroy = value;
  }
  public resetKeepOnDestroy() {
    this._keepOnDestroy = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get keepOnDestroyInput() {
    return this._keepOnDestroy;
  }

  // kernel - computed: false, optional: true, required: false
  private _kernel?: string; 
  public get kernel() {
    return this.getStringAttribute('kernel');
  }
  public set kernel(value: string) {
    this._kernel = value;
  }
  public resetKernel() {
    this._kernel = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get kernelInput() {
    return this._kernel;
  }

  // memory_bytes - computed: true, optional: false, required: false
  public get memoryBytes() {
    return this.getNumberAttribute('memory_bytes');
  }

  // memory_mib - computed: true, optional: true, required: false
  private _memoryMib?: number; 
  public get memoryMib() {
    return this.getNumberAttribute('memory_mib');
  }
  public set memoryMib(value: number) {
    this._memoryMib = value;
  }
  public resetMemoryMib() {
    this._memoryMib = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get memoryMibInput() {
    return this._memoryMib;
  }

  // name - computed: true, optional: true, required: false
  private _name?: string; 
  public get name() {
    return this.getStringAttribute('name');
  }
  public set name(value: string) {
    this._name = value;
  }
  public resetName() {
    this._name = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get nameInput() {
    return this._name;
  }

  // ready - computed: false, optional: true, required: false
  private _ready?: string; 
  public get ready() {
    return this.getStringAttribute('ready');
  }
  public set ready(value: string) {
    this._ready = value;
  }
  public resetReady() {
    this._ready = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get readyInput() {
    return this._ready;
  }

  // ready_timeout_seconds - computed: false, optional: true, required: false
  private _readyTimeoutSeconds?: number; 
  public get readyTimeoutSeconds() {
    return this.getNumberAttribute('ready_timeout_seconds');
  }
  public set readyTimeoutSeconds(value: number) {
    this._readyTimeoutSeconds = value;
  }
  public resetReadyTimeoutSeconds() {
    this._readyTimeoutSeconds = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get readyTimeoutSecondsInput() {
    return this._readyTimeoutSeconds;
  }

  // sha256 - computed: false, optional: true, required: false
  private _sha256?: string; 
  public get sha256() {
    return this.getStringAttribute('sha256');
  }
  public set sha256(value: string) {
    this._sha256 = value;
  }
  public resetSha256() {
    this._sha256 = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get sha256Input() {
    return this._sha256;
  }

  // source - computed: false, optional: true, required: false
  private _source?: string; 
  public get source() {
    return this.getStringAttribute('source');
  }
  public set source(value: string) {
    this._source = value;
  }
  public resetSource() {
    this._source = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get sourceInput() {
    return this._source;
  }

  // vcpus - computed: true, optional: true, required: false
  private _vcpus?: number; 
  public get vcpus() {
    return this.getNumberAttribute('vcpus');
  }
  public set vcpus(value: number) {
    this._vcpus = value;
  }
  public resetVcpus() {
    this._vcpus = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get vcpusInput() {
    return this._vcpus;
  }

  // cloud_init - computed: false, optional: true, required: false
  private _cloudInit = new BaseVmCloudInitOutputReference(this, "cloud_init");
  public get cloudInit() {
    return this._cloudInit;
  }
  public putCloudInit(value: BaseVmCloudInit) {
    this._cloudInit.internalValue = value;
  }
  public resetCloudInit() {
    this._cloudInit.internalValue = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get cloudInitInput() {
    return this._cloudInit.internalValue;
  }

  // timeouts - computed: false, optional: true, required: false
  private _timeouts = new BaseVmTimeoutsOutputReference(this, "timeouts");
  public get timeouts() {
    return this._timeouts;
  }
  public putTimeouts(value: BaseVmTimeouts) {
    this._timeouts.internalValue = value;
  }
  public resetTimeouts() {
    this._timeouts.internalValue = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get timeoutsInput() {
    return this._timeouts.internalValue;
  }

  // =========
  // SYNTHESIS
  // =========

  protected synthesizeAttributes(): { [name: string]: any } {
    return {
      cmdline: cdktf.stringToTerraform(this._cmdline),
      disk_image: cdktf.stringToTerraform(this._diskImage),
      firmware: cdktf.stringToTerraform(this._firmware),
      initrd: cdktf.stringToTerraform(this._initrd),
      keep_on_destroy: cdktf.booleanToTerraform(this._keepOnDestroy),
      kernel: cdktf.stringToTerraform(this._kernel),
      memory_mib: cdktf.numberToTerraform(this._memoryMib),
      name: cdktf.stringToTerraform(this._name),
      ready: cdktf.stringToTerraform(this._ready),
      ready_timeout_seconds: cdktf.numberToTerraform(this._readyTimeoutSeconds),
      sha256: cdktf.stringToTerraform(this._sha256),
      source: cdktf.stringToTerraform(this._source),
      vcpus: cdktf.numberToTerraform(this._vcpus),
      cloud_init: baseVmCloudInitToTerraform(this._cloudInit.internalValue),
      timeouts: baseVmTimeoutsToTerraform(this._timeouts.internalValue),
    };
  }

  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
      cmdline: {
        value: cdktf.stringToHclTerraform(this._cmdline),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      disk_image: {
        value: cdktf.stringToHclTerraform(this._diskImage),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      firmware: {
        value: cdktf.stringToHclTerraform(this._firmware),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      initrd: {
        value: cdktf.stringToHclTerraform(this._initrd),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      keep_on_destroy: {
        value: cdktf.booleanToHclTerraform(this._keepOnDestroy),
        isBlock: false,
        type: "simple",
        storageClassType: "boolean",
      },
      kernel: {
        value: cdktf.stringToHclTerraform(this._kernel),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      memory_mib: {
        value: cdktf.numberToHclTerraform(this._memoryMib),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      name: {
        value: cdktf.stringToHclTerraform(this._name),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      ready: {
        value: cdktf.stringToHclTerraform(this._ready),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      ready_timeout_seconds: {
        value: cdktf.numberToHclTerraform(this._readyTimeoutSeconds),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      sha256: {
        value: cdktf.stringToHclTerraform(this._sha256),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      source: {
        value: cdktf.stringToHclTerraform(this._source),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      vcpus: {
        value: cdktf.numberToHclTerraform(this._vcpus),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      cloud_init: {
        value: baseVmCloudInitToHclTerraform(this._cloudInit.internalValue),
        isBlock: true,
        type: "struct",
        storageClassType: "BaseVmCloudInit",
      },
      timeouts: {
        value: baseVmTimeoutsToHclTerraform(this._timeouts.internalValue),
        isBlock: true,
        type: "struct",
        storageClassType: "BaseVmTimeouts",
      },
    };

    // remove undefined attributes
    return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined ))
  }
}
