// https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization
// generated from terraform resource schema

import { Construct } from 'constructs';
import * as cdktf from 'cdktf';

// Configuration

export interface CustomizationConfig extends cdktf.TerraformMetaArguments {
  /**
  * Id of the base VM to resume.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization#base_id Customization#base_id}
  */
  readonly baseId: string;
  /**
  * Time limit for each command, in seconds. Default 300.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization#command_timeout_seconds Customization#command_timeout_seconds}
  */
  readonly commandTimeoutSeconds?: number;
  /**
  * Shell commands run in order inside the guest (through its control agent) once it runs. A non-zero exit status fails the create and removes the VM.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization#commands Customization#commands}
  */
  readonly commands?: string[];
  /**
  * Instance name, unique on the cloudlet.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization#name Customization#name}
  */
  readonly name: string;
  /**
  * file block
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization#file Customization#file}
  */
  readonly file?: CustomizationFile[] | cdktf.IResolvable;
  /**
  * timeouts block
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization#timeouts Customization#timeouts}
  */
  readonly timeouts?: CustomizationTimeouts;
}
export interface CustomizationFile {
  /**
  * The file's content (at most 524288 bytes; sensitive: it may hold keys).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization#content Customization#content}
  */
  readonly content: string;
  /**
  * Octal mode such as "0644"; default: the guest agent's (usually 0644 less its umask).
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization#mode Customization#mode}
  */
  readonly mode?: string;
  /**
  * Absolute path in the guest.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization#path Customization#path}
  */
  readonly path: string;
}

export function customizationFileToTerraform(struct?: CustomizationFile | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    content: cdktf.stringToTerraform(struct!.content),
    mode: cdktf.stringToTerraform(struct!.mode),
    path: cdktf.stringToTerraform(struct!.path),
  }
}


export function customizationFileToHclTerraform(struct?: CustomizationFile | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  const attrs = {
    content: {
      value: cdktf.stringToHclTerraform(struct!.content),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    mode: {
      value: cdktf.stringToHclTerraform(struct!.mode),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
    path: {
      value: cdktf.stringToHclTerraform(struct!.path),
      isBlock: false,
      type: "simple",
      storageClassType: "string",
    },
  };

  // remove undefined attributes
  return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined));
}

export class CustomizationFileOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  * @param complexObjectIndex the index of this item in the list
  * @param complexObjectIsFromSet whether the list is wrapping a set (will add tolist() to be able to access an item via an index)
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string, complexObjectIndex: number, complexObjectIsFromSet: boolean) {
    super(terraformResource, terraformAttribute, complexObjectIsFromSet, complexObjectIndex);
  }

  public get internalValue(): CustomizationFile | cdktf.IResolvable | undefined {
    if (this.resolvableValue) {
      return this.resolvableValue;
    }
    let hasAnyValues = this.isEmptyObject;
    const internalValueResult: any = {};
    if (this._content !== undefined) {
      hasAnyValues = true;
      internalValueResult.content = this._content;
    }
    if (this._mode !== undefined) {
      hasAnyValues = true;
      internalValueResult.mode = this._mode;
    }
    if (this._path !== undefined) {
      hasAnyValues = true;
      internalValueResult.path = this._path;
    }
    return hasAnyValues ? internalValueResult : undefined;
  }

  public set internalValue(value: CustomizationFile | cdktf.IResolvable | undefined) {
    if (value === undefined) {
      this.isEmptyObject = false;
      this.resolvableValue = undefined;
      this._content = undefined;
      this._mode = undefined;
      this._path = undefined;
    }
    else if (cdktf.Tokenization.isResolvable(value)) {
      this.isEmptyObject = false;
      this.resolvableValue = value;
    }
    else {
      this.isEmptyObject = Object.keys(value).length === 0;
      this.resolvableValue = undefined;
      this._content = value.content;
      this._mode = value.mode;
      this._path = value.path;
    }
  }

  // content - computed: false, optional: false, required: true
  private _content?: string; 
  public get content() {
    return this.getStringAttribute('content');
  }
  public set content(value: string) {
    this._content = value;
  }
  // Temporarily expose input value. Use with caution.
  public get contentInput() {
    return this._content;
  }

  // mode - computed: false, optional: true, required: false
  private _mode?: string; 
  public get mode() {
    return this.getStringAttribute('mode');
  }
  public set mode(value: string) {
    this._mode = value;
  }
  public resetMode() {
    this._mode = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get modeInput() {
    return this._mode;
  }

  // path - computed: false, optional: false, required: true
  private _path?: string; 
  public get path() {
    return this.getStringAttribute('path');
  }
  public set path(value: string) {
    this._path = value;
  }
  // Temporarily expose input value. Use with caution.
  public get pathInput() {
    return this._path;
  }
}

export class CustomizationFileList extends cdktf.ComplexList {
  public internalValue? : CustomizationFile[] | cdktf.IResolvable

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  * @param wrapsSet whether the list is wrapping a set (will add tolist() to be able to access an item via an index)
  */
  constructor(protected terraformResource: cdktf.IInterpolatingParent, protected terraformAttribute: string, protected wrapsSet: boolean) {
    super(terraformResource, terraformAttribute, wrapsSet)
  }

  /**
  * @param index the index of the item to return
  */
  public get(index: number): CustomizationFileOutputReference {
    return new CustomizationFileOutputReference(this.terraformResource, this.terraformAttribute, index, this.wrapsSet);
  }
}
export interface CustomizationTimeouts {
  /**
  * How long create may take before it is cancelled on the engine, as a duration like "30m" or "1h30m". Default 30m.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization#create Customization#create}
  */
  readonly create?: string;
  /**
  * How long delete may take before it is cancelled on the engine, as a duration like "30m" or "1h30m". Default 5m.
  *
  * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization#delete Customization#delete}
  */
  readonly delete?: string;
}

export function customizationTimeoutsToTerraform(struct?: CustomizationTimeouts | cdktf.IResolvable): any {
  if (!cdktf.canInspect(struct) || cdktf.Tokenization.isResolvable(struct)) { return struct; }
  if (cdktf.isComplexElement(struct)) {
    throw new Error("A complex element was used as configuration, this is not supported: https://cdk.tf/complex-object-as-configuration");
  }
  return {
    create: cdktf.stringToTerraform(struct!.create),
    delete: cdktf.stringToTerraform(struct!.delete),
  }
}


export function customizationTimeoutsToHclTerraform(struct?: CustomizationTimeouts | cdktf.IResolvable): any {
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

export class CustomizationTimeoutsOutputReference extends cdktf.ComplexObject {
  private isEmptyObject = false;
  private resolvableValue?: cdktf.IResolvable;

  /**
  * @param terraformResource The parent resource
  * @param terraformAttribute The attribute on the parent resource this class is referencing
  */
  public constructor(terraformResource: cdktf.IInterpolatingParent, terraformAttribute: string) {
    super(terraformResource, terraformAttribute, false);
  }

  public get internalValue(): CustomizationTimeouts | cdktf.IResolvable | undefined {
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

  public set internalValue(value: CustomizationTimeouts | cdktf.IResolvable | undefined) {
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
* Represents a {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization cloudlet_customization}
*/
export class Customization extends cdktf.TerraformResource {

  // =================
  // STATIC PROPERTIES
  // =================
  public static readonly tfResourceType = "cloudlet_customization";

  // ==============
  // STATIC Methods
  // ==============
  /**
  * Generates CDKTF code for importing a Customization resource upon running "cdktf plan <stack-name>"
  * @param scope The scope in which to define this construct
  * @param importToId The construct id used in the generated config for the Customization to import
  * @param importFromId The id of the existing Customization that should be imported. Refer to the {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization#import import section} in the documentation of this resource for the id to use
  * @param provider? Optional instance of the provider where the Customization to import is found
  */
  public static generateConfigForImport(scope: Construct, importToId: string, importFromId: string, provider?: cdktf.TerraformProvider) {
        return new cdktf.ImportableResource(scope, importToId, { terraformResourceType: "cloudlet_customization", importId: importFromId, provider });
      }

  // ===========
  // INITIALIZER
  // ===========

  /**
  * Create a new {@link https://registry.terraform.io/providers/cloudlet-iac/cloudlet/0.1.0/docs/resources/customization cloudlet_customization} Resource
  *
  * @param scope The scope in which to define this construct
  * @param id The scoped construct ID. Must be unique amongst siblings in the same scope
  * @param options CustomizationConfig
  */
  public constructor(scope: Construct, id: string, config: CustomizationConfig) {
    super(scope, id, {
      terraformResourceType: 'cloudlet_customization',
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
    this._commandTimeoutSeconds = config.commandTimeoutSeconds;
    this._commands = config.commands;
    this._name = config.name;
    this._file.internalValue = config.file;
    this._timeouts.internalValue = config.timeouts;
  }

  // ==========
  // ATTRIBUTES
  // ==========

  // base_id - computed: false, optional: false, required: true
  private _baseId?: string; 
  public get baseId() {
    return this.getStringAttribute('base_id');
  }
  public set baseId(value: string) {
    this._baseId = value;
  }
  // Temporarily expose input value. Use with caution.
  public get baseIdInput() {
    return this._baseId;
  }

  // cloudlet - computed: true, optional: false, required: false
  public get cloudlet() {
    return this.getStringAttribute('cloudlet');
  }

  // command_timeout_seconds - computed: true, optional: true, required: false
  private _commandTimeoutSeconds?: number; 
  public get commandTimeoutSeconds() {
    return this.getNumberAttribute('command_timeout_seconds');
  }
  public set commandTimeoutSeconds(value: number) {
    this._commandTimeoutSeconds = value;
  }
  public resetCommandTimeoutSeconds() {
    this._commandTimeoutSeconds = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get commandTimeoutSecondsInput() {
    return this._commandTimeoutSeconds;
  }

  // commands - computed: false, optional: true, required: false
  private _commands?: string[]; 
  public get commands() {
    return this.getListAttribute('commands');
  }
  public set commands(value: string[]) {
    this._commands = value;
  }
  public resetCommands() {
    this._commands = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get commandsInput() {
    return this._commands;
  }

  // id - computed: true, optional: false, required: false
  public get id() {
    return this.getStringAttribute('id');
  }

  // name - computed: false, optional: false, required: true
  private _name?: string; 
  public get name() {
    return this.getStringAttribute('name');
  }
  public set name(value: string) {
    this._name = value;
  }
  // Temporarily expose input value. Use with caution.
  public get nameInput() {
    return this._name;
  }

  // outputs - computed: true, optional: false, required: false
  public get outputs() {
    return this.getListAttribute('outputs');
  }

  // state - computed: true, optional: false, required: false
  public get state() {
    return this.getStringAttribute('state');
  }

  // file - computed: false, optional: true, required: false
  private _file = new CustomizationFileList(this, "file", false);
  public get file() {
    return this._file;
  }
  public putFile(value: CustomizationFile[] | cdktf.IResolvable) {
    this._file.internalValue = value;
  }
  public resetFile() {
    this._file.internalValue = undefined;
  }
  // Temporarily expose input value. Use with caution.
  public get fileInput() {
    return this._file.internalValue;
  }

  // timeouts - computed: false, optional: true, required: false
  private _timeouts = new CustomizationTimeoutsOutputReference(this, "timeouts");
  public get timeouts() {
    return this._timeouts;
  }
  public putTimeouts(value: CustomizationTimeouts) {
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
      command_timeout_seconds: cdktf.numberToTerraform(this._commandTimeoutSeconds),
      commands: cdktf.listMapper(cdktf.stringToTerraform, false)(this._commands),
      name: cdktf.stringToTerraform(this._name),
      file: cdktf.listMapper(customizationFileToTerraform, true)(this._file.internalValue),
      timeouts: customizationTimeoutsToTerraform(this._timeouts.internalValue),
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
      command_timeout_seconds: {
        value: cdktf.numberToHclTerraform(this._commandTimeoutSeconds),
        isBlock: false,
        type: "simple",
        storageClassType: "number",
      },
      commands: {
        value: cdktf.listMapperHcl(cdktf.stringToHclTerraform, false)(this._commands),
        isBlock: false,
        type: "list",
        storageClassType: "stringList",
      },
      name: {
        value: cdktf.stringToHclTerraform(this._name),
        isBlock: false,
        type: "simple",
        storageClassType: "string",
      },
      file: {
        value: cdktf.listMapperHcl(customizationFileToHclTerraform, true)(this._file.internalValue),
        isBlock: true,
        type: "list",
        storageClassType: "CustomizationFileList",
      },
      timeouts: {
        value: customizationTimeoutsToHclTerraform(this._timeouts.internalValue),
        isBlock: true,
        type: "struct",
        storageClassType: "CustomizationTimeouts",
      },
    };

    // remove undefined attributes
    return Object.fromEntries(Object.entries(attrs).filter(([_, value]) => value !== undefined && value.value !== undefined ))
  }
}
