// https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/overlay
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface OverlayConfig extends cdktf.TerraformMetaArguments {
  /**
  * Id of the base VM the overlay applies to. Set it (`cloudlet_base_vm.x.id`) to have the overlay checked against that base, and to order it after the base; otherwise it is read from the overlay.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/overlay#base_id Overlay#base_id}
  */
  readonly baseId?: string;
  /**
  * zstd level for an overlay captured from `customization_id`, 1 to 19. Default 9.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/overlay#compression_level Overlay#compression_level}
  */
  readonly compressionLevel?: number;
  /**
  * Id of a running VM on this cloudlet (a `cloudlet_customization`) to capture the overlay from. The VM is paused for the capture and keeps running afterwards.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/overlay#customization_id Overlay#customization_id}
  */
  readonly customizationId?: string;
  /**
  * Leave the overlay on the cloudlet when this resource is destroyed. Default false.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/overlay#keep_on_destroy Overlay#keep_on_destroy}
  */
  readonly keepOnDestroy?: boolean | cdktf.IResolvable;
  /**
  * Expected SHA-256 of the overlay file; a different file is refused.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/overlay#sha256 Overlay#sha256}
  */
  readonly sha256?: string;
  /**
  * Where the overlay file is: an http(s) or file URL the engine fetches, or a local path the provider uploads (relative to Terraform's working directory).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/overlay#source Overlay#source}
  */
  readonly source?: string;
  /**
  * timeouts block
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/overlay#timeouts Overlay#timeouts}
  */
  readonly timeouts?: OverlayTimeouts;
}
export interface OverlayTimeouts {
  /**
  * How long create may take before it is cancelled on the engine, as a duration like "30m" or "1h30m". Default 30m.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/overlay#create Overlay#create}
  */
  readonly create?: string;
  /**
  * How long delete may take before it is cancelled on the engine, as a duration like "30m" or "1h30m". Default 5m.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/overlay#delete Overlay#delete}
  */
  readonly delete?: string;
}

export function overlayTimeoutsToTerraform(struct?: OverlayTimeouts | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    create: cdktf.stringToTerraform(struct!.create),
    delete: cdktf.stringToTerraform(struct!.delete),
  }
}


export function overlayTimeoutsToHclTerraform(struct?: OverlayTimeouts | cdktf.IResolvable): any {
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

export class OverlayTimeoutsOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): OverlayTimeouts | cdktf.IResolvable | undefined {
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

  public set internalValue(value: OverlayTimeouts | cdktf.IResolvable | undefined) {
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
* Represents a {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/overlay cloudlet_overlay}
*/
export class Overlay extends cdktf.TerraformResource {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "cloudlet_overlay";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a Overlay resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the Overlay to import
  * @param importFromId The id of the existing Overlay that should be imported. Refer to the {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/overlay#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the Overlay to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "cloudlet_overlay", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/overlay cloudlet_overlay} Resource
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options OverlayConfig = {}
  */
  public constructor(scope: Construct, id: string, config: OverlayConfig = {}) {
    super(scope, id, {
      terraformResourceType: 'cloudlet_overlay',
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
    this._baseId = config.baseId;
    this._compressionLevel = config.compressionLevel;
    this._customizationId = config.customizationId;
    this._keepOnDestroy = config.keepOnDestroy;
    this._sha256 = config.sha256;
    this._source = config.source;
    this._timeouts.internalValue = config.timeouts;
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // base_id - computed: true, optional: true, required: false
  private _baseId?: string; 
  public get baseId() {
    return this.getStringAttribute('base_id');
  }
  public set baseId(value: string) {
    this._baseId = value;
  }
  public resetBaseId() {
    this._baseId = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get baseIdInput() {
    return this._baseId;
  }

  // cloudlet - computed: true, optional: false, required: false
  public get cloudlet() {
    return this.getStringAttribute('cloudlet');
  }

  // compression_level - computed: false, optional: true, required: false
  private _compressionLevel?: number; 
  public get compressionLevel() {
    return this.getNumberAttribute('compression_level');
  }
  public set compressionLevel(value: number) {
    this._compressionLevel = value;
  }
  public resetCompressionLevel() {
    this._compressionLevel = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get compressionLevelInput() {
    return this._compressionLevel;
  }

  // customization_id - computed: false, optional: true, required: false
  private _customizationId?: string; 
  public get customizationId() {
    return this.getStringAttribute('customization_id');
  }
  public set customizationId(value: string) {
    this._customizationId = value;
  }
  public resetCustomizationId() {
    this._customizationId = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get customizationIdInput() {
    return this._customizationId;
  }

  // download_url - computed: true, optional: false, required: false
  public get downloadUrl() {
    return this.getStringAttribute('download_url');
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

  // size_bytes - computed: true, optional: false, required: false
  public get sizeBytes() {
    return this.getNumberAttribute('size_bytes');
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

  // timeouts - computed: false, optional: true, required: false
  private _timeouts = new OverlayTimeoutsOutputReference(this, "timeouts");
  public get timeouts() {
    return this._timeouts;
  }
  public putTimeouts(value: OverlayTimeouts) {
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
      base_id: cdktf.stringToTerraform(this._baseId),
      compression_level: cdktf.numberToTerraform(this._compressionLevel),
      customization_id: cdktf.stringToTerraform(this._customizationId),
      keep_on_destroy: cdktf.booleanToTerraform(this._keepOnDestroy),
      sha256: cdktf.stringToTerraform(this._sha256),
      source: cdktf.stringToTerraform(this._source),
      timeouts: overlayTimeoutsToTerraform(this._timeouts.internalValue),
    };
  }

  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attrs = {
      base_id: {
        value: cdktf.stringToHclTerraform(this._baseId),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      compression_level: {
        value: cdktf.numberToHclTerraform(this._compressionLevel),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      customization_id: {
        value: cdktf.stringToHclTerraform(this._customizationId),
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
        value: overlayTimeoutsToHclTerraform(this._timeouts.internalValue),
        isBlock: true,
        type: "struct",
        storageClassType: "OverlayTimeouts",
      },
    };

    // remove undefined attributes
    return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined ))
  }
}
