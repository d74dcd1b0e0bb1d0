// The cloudlet construct library for CDK for Terraform (cdktf 0.21, constructs 10).
//   L2 (what apps use): Cloudlet, BaseVm, VmOverlay, SynthesizedInstance, Network; CloudletFleet and Placement
//   for one app across many cloudlets.
//   L1: `l1`, the bindings cdktf generates from the provider's schema (constructs/generated; npm run generate).

export { Cloudlet } from './lib/cloudlet';
export type { CloudletProps, CloudletPeer } from './lib/cloudlet';
export { BaseVm } from './lib/base-vm';
export type { BaseVmDiskImageProps, BaseVmProps, BaseVmLookup, IBaseVm } from './lib/base-vm';
export { VmOverlay } from './lib/vm-overlay';
export type { VmOverlayProps, CustomizationSpec, GuestFile, IVmOverlay } from './lib/vm-overlay';
export { SynthesizedInstance } from './lib/synthesized-instance';
export type { SynthesizedInstanceProps, PowerState, PublishedPort } from './lib/synthesized-instance';
export { Network } from './lib/network';
export type { NetworkProps, INetwork } from './lib/network';
export { CloudletFleet, Placement } from './lib/fleet';
export type { CloudletFleetProps, CloudletSite, FleetInstanceProps } from './lib/fleet';
export * as l1 from './generated/providers/cloudlet';
