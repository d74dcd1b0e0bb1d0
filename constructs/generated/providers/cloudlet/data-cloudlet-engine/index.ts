// https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/data-sources/engine
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface DataCloudletEngineConfig extends cdktf.TerraformMetaArguments {
}

/**
* Represents a {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/data-sources/engine cloudlet_engine}
*/
export class DataCloudletEngine extends cdktf.TerraformDataSource {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "cloudlet_engine";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a DataCloudletEngine resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the DataCloudletEngine to import
  * @param importFromId The id of the existing DataCloudletEngine that should be imported. Refer to the {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/data-sources/engine#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the DataCloudletEngine to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "cloudlet_engine", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/data-sources/engine cloudlet_engine} Data Source
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options DataCloudletEngineConfig = {}
  */
  public constructor(scope: Construct, id: string, config: DataCloudletEngineConfig = {}) {
    super(scope, id, {
      terraformResourceType: 'cloudlet_engine',
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
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // cpus - computed: true, optional: false, required: false
  public get cpus() {
    return this.getNumberAttribute('cpus');
  }

  // disk_free_bytes - computed: true, optional: false, required: false
  public get diskFreeBytes() {
    return this.getNumberAttribute('disk_free_bytes');
  }

  // endpoint - computed: true, optional: false, required: false
  public get endpoint() {
    return this.getStringAttribute('endpoint');
  }

  // extensions - computed: true, optional: false, required: false
  public get extensions() {
    return this.getListAttribute('extensions');
  }

  // handoff - computed: true, optional: false, required: false
  public get handoff() {
    return this.getBooleanAttribute('handoff');
  }

  // hypervisor - computed: true, optional: false, required: false
  public get hypervisor() {
    return this.getStringAttribute('hypervisor');
  }

  // id - computed: true, optional: false, required: false
  public get id() {
    return this.getStringAttribute('id');
  }

  // instances - computed: true, optional: false, required: false
  public get instances() {
    return this.getNumberAttribute('instances');
  }

  // memory_bytes - computed: true, optional: false, required: false
  public get memoryBytes() {
    return this.getNumberAttribute('memory_bytes');
  }

  // name - computed: true, optional: false, required: false
  public get name() {
    return this.getStringAttribute('name');
  }

  // version - computed: true, optional: false, required: false
  public get version() {
    return this.getStringAttribute('version');
  }

  // =========
  // SYNTHESIS
  // =========

  protected synthesizeAttributes(): { [name: string]: any } {
    return {
    };
  }

  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
    };
    return attrs;
  }
}
