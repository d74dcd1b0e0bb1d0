// Fleet: one app across many cloudlets. Each site is an engine installed as a service on its own host
// (`cloudlet engine install`), reached over HTTPS with its token; the base archive and the app's overlay are files
// on any web server (nginx, an object store). Every site imports the base and runs one `app-<site>` instance;
// the `roamer` instance runs on the site one context value names, so editing that value and deploying moves it,
// running, to another site (`cdktf diff` shows one in-place change). With `nearTo` instead, the site with the
// lowest round-trip time to that client address is chosen, measured by each site's engine before synth.
//
// Inputs (cdktf.json context, or the environment):
//   sites       / CLOUDLET_FLEET_SITES     name=https://host:port,... (in order of preference)
//   caCert      / CLOUDLET_FLEET_CA        path of the PEM CA that signed the sites' certificates
//   baseUrl, baseId / CLOUDLET_FLEET_BASE_URL, CLOUDLET_FLEET_BASE_ID     the base archive and its id
//   overlayUrl, overlaySha256 / CLOUDLET_FLEET_OVERLAY_URL, CLOUDLET_FLEET_OVERLAY_SHA256
//   site        the roamer's site (default: the first)
//   nearTo      a client ADDRESS[:PORT]: place the roamer nearest to it instead
// Tokens: one sensitive variable per site, token_<site> (export TF_VAR_token_<site>); for nearTo, the app's
// probes also read CLOUDLET_TOKEN_<SITE> (cdktf passes no TF_VAR_ variables to the app).

import * as fs from 'node:fs';
import { App, TerraformOutput, TerraformStack, TerraformVariable } from 'cdktf';
import { Construct } from 'constructs';
import { CloudletFleet, CloudletSite, Placement } from '../../constructs';
import { EngineClient } from '../../engine/client/client';

export interface FleetSite {
  name: string;
  endpoint: string;
}

export interface FleetProps {
  sites: FleetSite[];
  caCert: string;
  baseUrl: string;
  baseId: string;
  overlayUrl: string;
  overlaySha256: string;
  /** Where the roamer runs. */
  placement: Placement;
}

/** The app's guest port (the test guest's web server). */
export const FLEET_APP_PORT = 80;

export class FleetStack extends TerraformStack {
  constructor(scope: Construct, id: string, props: FleetProps) {
    super(scope, id);
    const sites: CloudletSite[] = props.sites.map((s) => ({
      name: s.name,
      endpoint: s.endpoint,
      token: new TerraformVariable(this, `token_${s.name}`, { type: 'string', sensitive: true, description: `API token of site ${s.name}` }).stringValue,
      caCert: props.caCert,
    }));
    const fleet = new CloudletFleet(this, 'fleet', { sites });
    const bases = fleet.baseVm('base', { source: props.baseUrl, sha256: props.baseId });
    const app = { overlayUrl: props.overlayUrl, overlaySha256: props.overlaySha256, ports: [{ guest: FLEET_APP_PORT }] };
    for (const s of fleet.siteNames) {
      const inst = fleet.instance(this, `app-${s}`, { ...app, bases, placement: Placement.site(s), name: `app-${s}` });
      new TerraformOutput(this, `url_${s}`, { value: inst.endpoint() });
    }
    const roamer = fleet.instance(this, 'roamer', { ...app, bases, placement: props.placement, name: 'roamer' });
    new TerraformOutput(this, 'roamer_site', { value: roamer.cloudlet.node.id, description: 'the site the roamer runs on' });
    new TerraformOutput(this, 'roamer_url', { value: roamer.endpoint() });
  }
}

/** Each site's round trip to a client, measured by that site's engine (POST /v1/probe); null where it fails. */
export async function measureRoundTrips(sites: FleetSite[], tokens: Record<string, string>, ca: string, client: string): Promise<Record<string, number | null>> {
  const m = /^(.+?)(?::(\d+))?$/.exec(client)!;
  const out: Record<string, number | null> = {};
  await Promise.all(
    sites.map(async (s) => {
      const c = new EngineClient({ endpoint: s.endpoint, token: tokens[s.name] ?? '', ca });
      try {
        out[s.name] = (await c.engine.probe({ address: m[1], port: m[2] ? Number(m[2]) : undefined })).rttMs;
      } catch (e) {
        process.stderr.write(`fleet: ${s.name} could not measure: ${(e as Error).message}\n`);
        out[s.name] = null;
      } finally {
        await c.close();
      }
    }),
  );
  return out;
}

export function parseSites(v: string): FleetSite[] {
  return v.split(',').map((p) => {
    const i = p.indexOf('=');
    if (i <= 0) throw new Error(`fleet: sites: expected name=https://host:port,..., got ${JSON.stringify(p)}`);
    return { name: p.slice(0, i).trim(), endpoint: p.slice(i + 1).trim() };
  });
}

async function main(): Promise<void> {
  const app = new App();
  const input = (ctx: string, env: string) => {
    const v = (app.node.tryGetContext(ctx) as string | undefined) ?? process.env[env];
    if (!v) throw new Error(`fleet: set context ${ctx} or ${env}`);
    return v;
  };
  const sites = parseSites(input('sites', 'CLOUDLET_FLEET_SITES'));
  const caCert = fs.readFileSync(input('caCert', 'CLOUDLET_FLEET_CA'), 'utf8');
  const nearTo = app.node.tryGetContext('nearTo') as string | undefined;
  let placement = Placement.fromContext('site');
  if (nearTo) {
    // cdktf hands the app no TF_VAR_ variables: the probes read each token from CLOUDLET_TOKEN_<SITE>.
    const tokens = Object.fromEntries(sites.map((s) => [s.name, process.env[`CLOUDLET_TOKEN_${s.name.toUpperCase().replace(/-/g, '_')}`] ?? '']));
    const rtt = await measureRoundTrips(sites, tokens, caCert, nearTo);
    process.stderr.write(`fleet: round trips to ${nearTo}: ${sites.map((s) => `${s.name} ${rtt[s.name] === null ? 'no answer' : `${rtt[s.name]} ms`}`).join(', ')}\n`);
    placement = Placement.nearest(rtt);
  }
  new FleetStack(app, 'fleet', {
    sites,
    caCert,
    baseUrl: input('baseUrl', 'CLOUDLET_FLEET_BASE_URL'),
    baseId: input('baseId', 'CLOUDLET_FLEET_BASE_ID'),
    overlayUrl: input('overlayUrl', 'CLOUDLET_FLEET_OVERLAY_URL'),
    overlaySha256: input('overlaySha256', 'CLOUDLET_FLEET_OVERLAY_SHA256'),
    placement,
  });
  app.synth();
}

if (require.main === module) {
  main().catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
}
