// Generated from provider/protocol/proto/*.proto by provider/protocol/proto-types.ts (`npm run generate`): do not edit.
// The messages as provider/protocol/protobuf.ts decodes them; handlers send `Outgoing<...>` of the responses.

export type grpc_health_v1_HealthCheckResponse_ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
export type plugin_StdioData_Channel = 'INVALID' | 'STDOUT' | 'STDERR';
export type Deferred_Reason = 'UNKNOWN' | 'RESOURCE_CONFIG_UNKNOWN' | 'PROVIDER_CONFIG_UNKNOWN' | 'ABSENT_PREREQ';
export type Diagnostic_Severity = 'INVALID' | 'ERROR' | 'WARNING';
export type Schema_NestedBlock_NestingMode = 'INVALID' | 'SINGLE' | 'LIST' | 'SET' | 'MAP' | 'GROUP';
export type Schema_Object_NestingMode = 'INVALID' | 'SINGLE' | 'LIST' | 'SET' | 'MAP';
export type StringKind = 'PLAIN' | 'MARKDOWN';

export type google_protobuf_Empty = Record<string, never>;

export interface google_protobuf_Timestamp {
  seconds: number;
  nanos: number;
}

export interface grpc_health_v1_HealthCheckRequest {
  service: string;
}

export interface grpc_health_v1_HealthCheckResponse {
  status: grpc_health_v1_HealthCheckResponse_ServingStatus;
}

export type plugin_Empty = Record<string, never>;

export interface plugin_StdioData {
  channel: plugin_StdioData_Channel;
  data: Buffer;
}

export type ApplyResourceChange = Record<string, never>;

export interface ApplyResourceChange_Request {
  type_name: string;
  prior_state: DynamicValue | null;
  planned_state: DynamicValue | null;
  config: DynamicValue | null;
  planned_private: Buffer;
  provider_meta: DynamicValue | null;
}

export interface ApplyResourceChange_Response {
  new_state: DynamicValue | null;
  private: Buffer;
  diagnostics: Diagnostic[];
  legacy_type_system: boolean;
}

export interface AttributePath {
  steps: AttributePath_Step[];
}

export interface AttributePath_Step {
  attribute_name?: string;
  element_key_string?: string;
  element_key_int?: number;
}

export type CallFunction = Record<string, never>;

export interface CallFunction_Request {
  name: string;
  arguments: DynamicValue[];
}

export interface CallFunction_Response {
  result: DynamicValue | null;
  error: FunctionError | null;
}

export interface ClientCapabilities {
  deferral_allowed: boolean;
  write_only_attributes_allowed: boolean;
}

export type CloseEphemeralResource = Record<string, never>;

export interface CloseEphemeralResource_Request {
  type_name: string;
  private?: Buffer;
}

export interface CloseEphemeralResource_Response {
  diagnostics: Diagnostic[];
}

export type ConfigureProvider = Record<string, never>;

export interface ConfigureProvider_Request {
  terraform_version: string;
  config: DynamicValue | null;
  client_capabilities: ClientCapabilities | null;
}

export interface ConfigureProvider_Response {
  diagnostics: Diagnostic[];
}

export interface Deferred {
  reason: Deferred_Reason;
}

export interface Diagnostic {
  severity: Diagnostic_Severity;
  summary: string;
  detail: string;
  attribute: AttributePath | null;
}

export interface DynamicValue {
  msgpack: Buffer;
  json: Buffer;
}

export interface Function {
  parameters: Function_Parameter[];
  variadic_parameter: Function_Parameter | null;
  return: Function_Return | null;
  summary: string;
  description: string;
  description_kind: StringKind;
  deprecation_message: string;
}

export interface Function_Parameter {
  name: string;
  type: Buffer;
  allow_null_value: boolean;
  allow_unknown_values: boolean;
  description: string;
  description_kind: StringKind;
}

export interface Function_Return {
  type: Buffer;
}

export interface FunctionError {
  text: string;
  function_argument?: number;
}

export type GetFunctions = Record<string, never>;

export type GetFunctions_Request = Record<string, never>;

export interface GetFunctions_Response {
  functions: Record<string, Function | null>;
  diagnostics: Diagnostic[];
}

export type GetMetadata = Record<string, never>;

export interface GetMetadata_DataSourceMetadata {
  type_name: string;
}

export interface GetMetadata_EphemeralMetadata {
  type_name: string;
}

export interface GetMetadata_FunctionMetadata {
  name: string;
}

export type GetMetadata_Request = Record<string, never>;

export interface GetMetadata_ResourceMetadata {
  type_name: string;
}

export interface GetMetadata_Response {
  server_capabilities: ServerCapabilities | null;
  diagnostics: Diagnostic[];
  data_sources: GetMetadata_DataSourceMetadata[];
  resources: GetMetadata_ResourceMetadata[];
  functions: GetMetadata_FunctionMetadata[];
  ephemeral_resources: GetMetadata_EphemeralMetadata[];
}

export type GetProviderSchema = Record<string, never>;

export type GetProviderSchema_Request = Record<string, never>;

export interface GetProviderSchema_Response {
  provider: Schema | null;
  resource_schemas: Record<string, Schema | null>;
  data_source_schemas: Record<string, Schema | null>;
  diagnostics: Diagnostic[];
  provider_meta: Schema | null;
  server_capabilities: ServerCapabilities | null;
  functions: Record<string, Function | null>;
  ephemeral_resource_schemas: Record<string, Schema | null>;
}

export type ImportResourceState = Record<string, never>;

export interface ImportResourceState_ImportedResource {
  type_name: string;
  state: DynamicValue | null;
  private: Buffer;
}

export interface ImportResourceState_Request {
  type_name: string;
  id: string;
  client_capabilities: ClientCapabilities | null;
}

export interface ImportResourceState_Response {
  imported_resources: ImportResourceState_ImportedResource[];
  diagnostics: Diagnostic[];
  deferred: Deferred | null;
}

export type MoveResourceState = Record<string, never>;

export interface MoveResourceState_Request {
  source_provider_address: string;
  source_type_name: string;
  source_schema_version: number;
  source_state: RawState | null;
  target_type_name: string;
  source_private: Buffer;
}

export interface MoveResourceState_Response {
  target_state: DynamicValue | null;
  diagnostics: Diagnostic[];
  target_private: Buffer;
}

export type OpenEphemeralResource = Record<string, never>;

export interface OpenEphemeralResource_Request {
  type_name: string;
  config: DynamicValue | null;
  client_capabilities: ClientCapabilities | null;
}

export interface OpenEphemeralResource_Response {
  diagnostics: Diagnostic[];
  renew_at?: google_protobuf_Timestamp;
  result: DynamicValue | null;
  private?: Buffer;
  deferred: Deferred | null;
}

export type PlanResourceChange = Record<string, never>;

export interface PlanResourceChange_Request {
  type_name: string;
  prior_state: DynamicValue | null;
  proposed_new_state: DynamicValue | null;
  config: DynamicValue | null;
  prior_private: Buffer;
  provider_meta: DynamicValue | null;
  client_capabilities: ClientCapabilities | null;
}

export interface PlanResourceChange_Response {
  planned_state: DynamicValue | null;
  requires_replace: AttributePath[];
  planned_private: Buffer;
  diagnostics: Diagnostic[];
  legacy_type_system: boolean;
  deferred: Deferred | null;
}

export interface RawState {
  json: Buffer;
  flatmap: Record<string, string>;
}

export type ReadDataSource = Record<string, never>;

export interface ReadDataSource_Request {
  type_name: string;
  config: DynamicValue | null;
  provider_meta: DynamicValue | null;
  client_capabilities: ClientCapabilities | null;
}

export interface ReadDataSource_Response {
  state: DynamicValue | null;
  diagnostics: Diagnostic[];
  deferred: Deferred | null;
}

export type ReadResource = Record<string, never>;

export interface ReadResource_Request {
  type_name: string;
  current_state: DynamicValue | null;
  private: Buffer;
  provider_meta: DynamicValue | null;
  client_capabilities: ClientCapabilities | null;
}

export interface ReadResource_Response {
  new_state: DynamicValue | null;
  diagnostics: Diagnostic[];
  private: Buffer;
  deferred: Deferred | null;
}

export type RenewEphemeralResource = Record<string, never>;

export interface RenewEphemeralResource_Request {
  type_name: string;
  private?: Buffer;
}

export interface RenewEphemeralResource_Response {
  diagnostics: Diagnostic[];
  renew_at?: google_protobuf_Timestamp;
  private?: Buffer;
}

export interface Schema {
  version: number;
  block: Schema_Block | null;
}

export interface Schema_Attribute {
  name: string;
  type: Buffer;
  nested_type: Schema_Object | null;
  description: string;
  required: boolean;
  optional: boolean;
  computed: boolean;
  sensitive: boolean;
  description_kind: StringKind;
  deprecated: boolean;
  write_only: boolean;
}

export interface Schema_Block {
  version: number;
  attributes: Schema_Attribute[];
  block_types: Schema_NestedBlock[];
  description: string;
  description_kind: StringKind;
  deprecated: boolean;
}

export interface Schema_NestedBlock {
  type_name: string;
  block: Schema_Block | null;
  nesting: Schema_NestedBlock_NestingMode;
  min_items: number;
  max_items: number;
}

export interface Schema_Object {
  attributes: Schema_Attribute[];
  nesting: Schema_Object_NestingMode;
  min_items: number;
  max_items: number;
}

export interface ServerCapabilities {
  plan_destroy: boolean;
  get_provider_schema_optional: boolean;
  move_resource_state: boolean;
}

export type StopProvider = Record<string, never>;

export type StopProvider_Request = Record<string, never>;

export interface StopProvider_Response {
  Error: string;
}

export type UpgradeResourceState = Record<string, never>;

export interface UpgradeResourceState_Request {
  type_name: string;
  version: number;
  raw_state: RawState | null;
}

export interface UpgradeResourceState_Response {
  upgraded_state: DynamicValue | null;
  diagnostics: Diagnostic[];
}

export type ValidateDataResourceConfig = Record<string, never>;

export interface ValidateDataResourceConfig_Request {
  type_name: string;
  config: DynamicValue | null;
}

export interface ValidateDataResourceConfig_Response {
  diagnostics: Diagnostic[];
}

export type ValidateEphemeralResourceConfig = Record<string, never>;

export interface ValidateEphemeralResourceConfig_Request {
  type_name: string;
  config: DynamicValue | null;
}

export interface ValidateEphemeralResourceConfig_Response {
  diagnostics: Diagnostic[];
}

export type ValidateProviderConfig = Record<string, never>;

export interface ValidateProviderConfig_Request {
  config: DynamicValue | null;
}

export interface ValidateProviderConfig_Response {
  diagnostics: Diagnostic[];
}

export type ValidateResourceConfig = Record<string, never>;

export interface ValidateResourceConfig_Request {
  type_name: string;
  config: DynamicValue | null;
}

export interface ValidateResourceConfig_Response {
  diagnostics: Diagnostic[];
}

/** The RPCs of grpc.health.v1.Health. */
export interface HealthRpcs {
  Check: { request: grpc_health_v1_HealthCheckRequest; response: grpc_health_v1_HealthCheckResponse };
  Watch: { request: grpc_health_v1_HealthCheckRequest; response: grpc_health_v1_HealthCheckResponse };
}

/** The RPCs of plugin.GRPCController. */
export interface GRPCControllerRpcs {
  Shutdown: { request: plugin_Empty; response: plugin_Empty };
}

/** The RPCs of plugin.GRPCStdio. */
export interface GRPCStdioRpcs {
  StreamStdio: { request: google_protobuf_Empty; response: plugin_StdioData };
}

/** The RPCs of tfplugin6.Provider. */
export interface ProviderRpcs {
  GetMetadata: { request: GetMetadata_Request; response: GetMetadata_Response };
  GetProviderSchema: { request: GetProviderSchema_Request; response: GetProviderSchema_Response };
  ValidateProviderConfig: { request: ValidateProviderConfig_Request; response: ValidateProviderConfig_Response };
  ValidateResourceConfig: { request: ValidateResourceConfig_Request; response: ValidateResourceConfig_Response };
  ValidateDataResourceConfig: { request: ValidateDataResourceConfig_Request; response: ValidateDataResourceConfig_Response };
  UpgradeResourceState: { request: UpgradeResourceState_Request; response: UpgradeResourceState_Response };
  ConfigureProvider: { request: ConfigureProvider_Request; response: ConfigureProvider_Response };
  ReadResource: { request: ReadResource_Request; response: ReadResource_Response };
  PlanResourceChange: { request: PlanResourceChange_Request; response: PlanResourceChange_Response };
  ApplyResourceChange: { request: ApplyResourceChange_Request; response: ApplyResourceChange_Response };
  ImportResourceState: { request: ImportResourceState_Request; response: ImportResourceState_Response };
  MoveResourceState: { request: MoveResourceState_Request; response: MoveResourceState_Response };
  ReadDataSource: { request: ReadDataSource_Request; response: ReadDataSource_Response };
  ValidateEphemeralResourceConfig: { request: ValidateEphemeralResourceConfig_Request; response: ValidateEphemeralResourceConfig_Response };
  OpenEphemeralResource: { request: OpenEphemeralResource_Request; response: OpenEphemeralResource_Response };
  RenewEphemeralResource: { request: RenewEphemeralResource_Request; response: RenewEphemeralResource_Response };
  CloseEphemeralResource: { request: CloseEphemeralResource_Request; response: CloseEphemeralResource_Response };
  GetFunctions: { request: GetFunctions_Request; response: GetFunctions_Response };
  CallFunction: { request: CallFunction_Request; response: CallFunction_Response };
  StopProvider: { request: StopProvider_Request; response: StopProvider_Response };
}
