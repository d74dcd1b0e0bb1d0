// The quickstart: one cloudlet on the embedded default engine, the sample base VM, an overlay for a small web
// app made by customizing the base, and a VM synthesized from the two. Deploy with `npm start` (which prepares
// the sample base and runs `cdktf deploy`), or by hand: see examples/quickstart/README.md.
//
// Inputs (environment or cdktf context):
//   CLOUDLET_SAMPLE_BASE / context baseArchive   path or URL of the base archive (required)
//   CLOUDLET_SAMPLE_BASE_ID / context baseId     its base id, to pin it (optional)
//   CLOUDLET_STATE_DIR / context stateDir        the embedded engine's state directory (optional)

import { App, TerraformOutput, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { BaseVm, Cloudlet, SynthesizedInstance, VmOverlay } from '../../constructs';

export interface QuickstartProps {
  readonly baseArchive: string;
  readonly baseId?: string;
  readonly stateDir?: string;
}

/** The page the app serves; the deploy's check reads it back through the guest. */
export const APP_PAGE = 'hello from a synthesized cloudlet VM';
/** The command, run in the guest, that reads the page back while the overlay is made. */
export const APP_CHECK = 'busybox wget -qO- http://127.0.0.1:8080/';
/** The app's port in the guest, published on the cloudlet host's address. */
export const APP_PORT = 8080;

/**
 * The app as an overlay: busybox's web server with one page, started in the customization VM. Its files and the
 * running process both travel in the overlay (disk and memory), so a VM synthesized from it serves at once.
 */
export function webAppOverlay(scope: Construct, id: string, base: BaseVm): VmOverlay {
  return new VmOverlay(scope, id, {
    base,
    customize: {
      commands: [`mkdir -p /data/www && echo '${APP_PAGE}' > /data/www/index.html && sync`, `busybox ip link set lo up && busybox httpd -p ${APP_PORT} -h /data/www && sleep 1 && ${APP_CHECK}`],
    },
  });
}

export class QuickstartStack extends TerraformStack {
  readonly instance: SynthesizedInstance;

  constructor(scope: Construct, id: string, props: QuickstartProps) {
    super(scope, id);
    const cloudlet = new Cloudlet(this, 'cloudlet', { stateDir: props.stateDir });
    const base = new BaseVm(this, 'sample-base', { cloudlet, source: props.baseArchive, sha256: props.baseId });
    const app = webAppOverlay(this, 'web-app', base);
    // On the cloudlet's default network, with the app's port published on the host's address.
    this.instance = new SynthesizedInstance(this, 'web', { base, overlay: app, name: 'quickstart-web', ports: [{ guest: APP_PORT }] });
    new TerraformOutput(this, 'instance_id', { value: this.instance.instanceId });
    new TerraformOutput(this, 'state', { value: this.instance.state });
    new TerraformOutput(this, 'url', { value: this.instance.endpoint(), description: "the app, published on the cloudlet host's address: curl it" });
    new TerraformOutput(this, 'ip_address', { value: this.instance.ipAddress, description: "the instance's address on the cloudlet's default network" });
  }
}

if (require.main === module) {
  const app = new App();
  const ctx = (k: string) => app.node.tryGetContext(k) as string | undefined;
  const baseArchive = ctx('baseArchive') ?? process.env.CLOUDLET_SAMPLE_BASE;
  if (!baseArchive) {
    process.stderr.write('quickstart: set CLOUDLET_SAMPLE_BASE (or context baseArchive) to the sample base archive; `npm start` prepares one\n');
    process.exit(1);
  }
  new QuickstartStack(app, 'quickstart', {
    baseArchive,
    baseId: ctx('baseId') ?? process.env.CLOUDLET_SAMPLE_BASE_ID,
    stateDir: ctx('stateDir') ?? process.env.CLOUDLET_STATE_DIR,
  });
  app.synth();
}
