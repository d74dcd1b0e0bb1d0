// https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface BaseVmConfig extends cdktf.TerraformMetaArguments {
  /**
  * Leave the base on the cloudlet when this resource is destroyed (bases are large and may be shared). Default false.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#keep_on_destroy BaseVm#keep_on_destroy}
  */
  readonly keepOnDestroy?: boolean | cdktf.IResolvable;
  /**
  * The expected base id. The import fails if the archive holds another base, and nothing is downloaded when the cloudlet already has it.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#sha256 BaseVm#sha256}
  */
  readonly sha256?: string;
  /**
  * Path or http(s)/file URL of the base archive. A path is read by the engine on its host (relative paths are resolved from Terraform's working directory). Changing it replaces the base unless `sha256` pins the same base.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#source BaseVm#source}
  */
  readonly source: string;
  /**
  * timeouts block
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/base_vm#timeouts BaseVm#timeouts}
  */
  readonly timeouts?: BaseVmTimeouts;
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
  * @param options BaseVmConfig
  */
  public constructor(scope: Construct, id: string, config: BaseVmConfig) {
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
    this._keepOnDestroy = config.keepOnDestroy;
    this._sha256 = config.sha256;
    this._source = config.source;
    this._timeouts.internalValue = config.timeouts;
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // cloudlet - computed: true, optional: false, required: false
  public get cloudlet() {
    return this.getStringAttribute('cloudlet');
  }

  // cpu_model - computed: true, optional: false, required: false
  public get cpuModel() {
    return this.getStringAttribute('cpu_model');
  }

  // disk_bytes - computed: true, optional: false, required: false
  public get diskBytes() {
    return this.getNumberAttribute('disk_bytes');
  }

  // id - computed: true, optional: false, required: false
  public get id() {
    return this.getStringAttribute('id');
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

  // memory_bytes - computed: true, optional: false, required: false
  public get memoryBytes() {
    return this.getNumberAttribute('memory_bytes');
  }

  // memory_mib - computed: true, optional: false, required: false
  public get memoryMib() {
    return this.getNumberAttribute('memory_mib');
  }

  // name - computed: true, optional: false, required: false
  public get name() {
    return this.getStringAttribute('name');
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

  // source - computed: false, optional: false, required: true
  private _source?: string; 
  public get source() {
    return this.getStringAttribute('source');
  }
  public set source(value: string) {
    this._source = value;
  }
  // Temporarily expose input value. Use with caution.
  public get sourceInput() {
    return this._source;
  }

  // vcpus - computed: true, optional: false, required: false
  public get vcpus() {
    return this.getNumberAttribute('vcpus');
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
      keep_on_destroy: cdktf.booleanToTerraform(this._keepOnDestroy),
      sha256: cdktf.stringToTerraform(this._sha256),
      source: cdktf.stringToTerraform(this._source),
      timeouts: baseVmTimeoutsToTerraform(this._timeouts.internalValue),
    };
  }

  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
      keep_on_destroy: {
        value: cdktf.booleanToHclTerraform(this._keepOnDestroy),
        isBlock: false,
        type: "simple",
        storageClassType: "boolean",
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
