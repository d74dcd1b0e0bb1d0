// The provider's name and version, shared by the process (main.ts) and its packaging (build.ts).

export const PROVIDER_HOST = 'registry.terraform.io';
export const PROVIDER_NAMESPACE = 'cloudlet-iac';
export const PROVIDER_TYPE = 'cloudlet';
export const PROVIDER_VERSION = '0.1.0';
/** How configurations name it: `required_providers { cloudlet = { source = "cloudlet-iac/cloudlet" } }`. */
export const PROVIDER_SOURCE = `${PROVIDER_NAMESPACE}/${PROVIDER_TYPE}`;
