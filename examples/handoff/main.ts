// Handoff: two cloudlets on one machine (two local engines with their own state directories), the sample
// base VM on both, the quickstart's web app as an overlay made on the first, and one VM synthesized from them.
// One value says where the VM runs: switching it from "a" to "b" moves the running VM to the other cloudlet
// (`cdktf diff` shows an in-place change of its placement; `cdktf deploy` hands it off, memory and all).
//
// Inputs (cdktf context in examples/handoff/cdktf.json, or the environment):
//   placement  / CLOUDLET_PLACEMENT          a or b: where the VM runs (default a)
//   baseArchive / CLOUDLET_SAMPLE_BASE       path or URL of the sample base archive (required)
//   baseId / CLOUDLET_SAMPLE_BASE_ID         its base id, to pin it (optional)
//   stateDirA, stateDirB / CLOUDLET_HANDOFF_STATE   the engines' state directories (default
//                                            <CLOUDLET_HANDOFF_STATE or ~/.local/share/cloudlet-handoff>/a and /b)

import * as os from 'node:os';
import * as path from 'node:path';
import { App, TerraformOutput, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { BaseVm, Cloudlet, SynthesizedInstance } from '../../constructs';
import { APP_PORT, webAppOverlay } from '../quickstart/main';

export interface HandoffProps {
  readonly baseArchive: string;
  readonly baseId?: string;
  readonly stateDirA: string;
  readonly stateDirB: string;
  /** Where the instance runs. */
  readonly placement: 'a' | 'b';
}

export class HandoffStack extends TerraformStack {
  readonly instance: SynthesizedInstance;

  constructor(scope: Construct, id: string, props: HandoffProps) {
    super(scope, id);
    // Each cloudlet lists the other as a peer: that is what lets it take an instance from there.
    const a = new Cloudlet(this, 'a', { alias: 'a', stateDir: props.stateDirA, peers: [{ name: 'b', stateDir: props.stateDirB }] });
    const b = new Cloudlet(this, 'b', { alias: 'b', stateDir: props.stateDirB, peers: [a.asPeer('a')] });
    // A handoff sends only what differs from the base, so both cloudlets hold the base.
    const baseA = new BaseVm(this, 'base-a', { cloudlet: a, source: props.baseArchive, sha256: props.baseId });
    const baseB = new BaseVm(this, 'base-b', { cloudlet: b, source: props.baseArchive, sha256: props.baseId });
    const app = webAppOverlay(this, 'web-app', baseA);
    // Its app's port is published wherever it runs; after a move `url` is the destination's.
    this.instance = new SynthesizedInstance(this, 'web', { base: baseA, overlay: app, name: 'handoff-web', ports: [{ guest: APP_PORT }] });
    // The move needs the base at b before the VM goes there.
    this.instance.resource.addOverride('depends_on', [`${baseB.resource.terraformResourceType}.${baseB.resource.friendlyUniqueId}`]);
    if (props.placement === 'b') this.instance.moveTo(b);
    new TerraformOutput(this, 'placement', { value: this.instance.placementId, description: 'the cloudlet the VM runs on' });
    new TerraformOutput(this, 'cloudlet_a', { value: a.cloudletId });
    new TerraformOutput(this, 'cloudlet_b', { value: b.cloudletId });
    new TerraformOutput(this, 'instance_id', { value: this.instance.instanceId });
    new TerraformOutput(this, 'url', { value: this.instance.endpoint(), description: 'the app, on the host address of the cloudlet it runs on' });
  }
}

if (require.main === module) {
  const app = new App();
  const ctx = (k: string) => app.node.tryGetContext(k) as string | undefined;
  const baseArchive = ctx('baseArchive') ?? process.env.CLOUDLET_SAMPLE_BASE;
  if (!baseArchive) {
    process.stderr.write('handoff: set CLOUDLET_SAMPLE_BASE (or context baseArchive) to the sample base archive; `npm start` prepares one\n');
    process.exit(1);
  }
  const placement = process.env.CLOUDLET_PLACEMENT ?? ctx('placement') ?? 'a';
  if (placement !== 'a' && placement !== 'b') {
    process.stderr.write(`handoff: placement must be "a" or "b", got ${JSON.stringify(placement)}\n`);
    process.exit(1);
  }
  const root = process.env.CLOUDLET_HANDOFF_STATE ?? path.join(process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share'), 'cloudlet-handoff');
  new HandoffStack(app, 'handoff', {
    baseArchive,
    baseId: ctx('baseId') ?? process.env.CLOUDLET_SAMPLE_BASE_ID,
    stateDirA: ctx('stateDirA') ?? path.join(root, 'a'),
    stateDirB: ctx('stateDirB') ?? path.join(root, 'b'),
    placement,
  });
  app.synth();
}
