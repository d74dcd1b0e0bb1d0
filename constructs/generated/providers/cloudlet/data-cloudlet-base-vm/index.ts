// https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/data-sources/base_vm
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface DataCloudletBaseVmConfig extends cdktf.TerraformMetaArguments {
  /**
  * The base id (SHA-256 content address) to look up.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/data-sources/base_vm#id DataCloudletBaseVm#id}
  *
  * Please be aware that the id field is automatically added to all resources in Terraform providers using a Terraform provider SDK version below 2.
  * If you experience problems setting this value it might not be settable. Please take a look at the provider documentation to ensure it should be settable.
  */
  readonly id?: string;
  /**
  * The base name to look up; it must match exactly one base.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/data-sources/base_vm#name DataCloudletBaseVm#name}
  */
  readonly name?: string;
}

/**
* Represents a {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/data-sources/base_vm cloudlet_base_vm}
*/
export class DataCloudletBaseVm extends cdktf.TerraformDataSource {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "cloudlet_base_vm";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a DataCloudletBaseVm resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the DataCloudletBaseVm to import
  * @param importFromId The id of the existing DataCloudletBaseVm that should be imported. Refer to the {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/data-sources/base_vm#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the DataCloudletBaseVm to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "cloudlet_base_vm", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/data-sources/base_vm cloudlet_base_vm} Data Source
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options DataCloudletBaseVmConfig = {}
  */
  public constructor(scope: Construct, id: string, config: DataCloudletBaseVmConfig = {}) {
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
    this._id = config.id;
    this._name = config.name;
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

  // id - computed: true, optional: true, required: false
  private _id?: string; 
  public get id() {
    return this.getStringAttribute('id');
  }
  public set id(value: string) {
    this._id = value;
  }
  public resetId() {
    this._id = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get idInput() {
    return this._id;
  }

  // memory_bytes - computed: true, optional: false, required: false
  public get memoryBytes() {
    return this.getNumberAttribute('memory_bytes');
  }

  // memory_mib - computed: true, optional: false, required: false
  public get memoryMib() {
    return this.getNumberAttribute('memory_mib');
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

  // source - computed: true, optional: false, required: false
  public get source() {
    return this.getStringAttribute('source');
  }

  // vcpus - computed: true, optional: false, required: false
  public get vcpus() {
    return this.getNumberAttribute('vcpus');
  }

  // =========
  // SYNTHESIS
  // =========

  protected synthesizeAttributes(): { [name: string]: any } {
    return {
      id: cdktf.stringToTerraform(this._id),
      name: cdktf.stringToTerraform(this._name),
    };
  }

  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
      id: {
        value: cdktf.stringToHclTerraform(this._id),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      name: {
        value: cdktf.stringToHclTerraform(this._name),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
    };

    // remove undefined attributes
    return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined ))
  }
}
