// Every ```hcl example in the provider documentation (provider/docs/**/*.md) is a complete configuration, and this
// test runs each one with the real terraform binary against a real engine: init (offline, from the mirror), apply,
// a plan that must show no changes, and destroy, after which nothing the example made is left on the engine.
//
// Conventions the docs follow (fragments use ```shell or ```terraform-fragment and are skipped):
// - each hcl block has the `required_providers` block for cloudlet-iac/cloudlet and a `provider "cloudlet"` block
//   with no arguments but, at most, `state_dir`; the engine comes from CLOUDLET_ENDPOINT and CLOUDLET_TOKEN;
// - placeholders: the cloud-style guest's image /var/lib/cloudlet/images/debian-12.qcow2,
//   the base archive /var/lib/cloudlet/images/tiny-base.tar, the overlay file
//   /var/lib/cloudlet/overlays/app.clov, and the base id 3a216ae0…7fa7, which stands for the tiny base's real id
//   (the test guest is built on each machine, so its id differs from one machine to the next);
// - an example that declares a `cloudlet_base_vm` resource imports the base itself, so it starts on an engine
//   without the base; any other example builds on a base imported beforehand, as the docs say, so it starts
//   on an engine that has it.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestEngine, makeOverlayFile } from '../helpers/engine';
import { TerraformDir } from '../helpers/terraform';
import { ensureBaseArchive } from '../vms/guest';
import { ensureCloudImage } from '../vms/cloud-image';

jest.setTimeout(900000);

const DOCS = path.resolve(__dirname, '..', '..', 'provider', 'docs');
const ARCHIVE_PLACEHOLDER = '/var/lib/cloudlet/images/tiny-base.tar';
const OVERLAY_PLACEHOLDER = '/var/lib/cloudlet/overlays/app.clov';
const BASE_ID_PLACEHOLDER = '3a216ae04d886261dae0d9bd229e28388508c9c7c0df47a5273f1eea2d697fa7';
/** The cloud-style guest (test/vms/prepare-cloud.sh), for the example that makes a base from a cloud image. */
const CLOUD_IMAGE_PLACEHOLDER = '/var/lib/cloudlet/images/debian-12.qcow2';
/** The tiny base's real id on this machine. */
let tinyBaseId = '';

interface Example {
  name: string;
  file: string;
  text: string;
}

function markdownFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...markdownFiles(p));
    else if (e.name.endsWith('.md')) out.push(p);
  }
  return out;
}

/** The body of every fenced block whose info string is exactly `hcl`, in order; other blocks are skipped whole. */
function hclBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  let fence: string | null = null;
  let body: string[] | null = null;
  for (const line of markdown.split('\n')) {
    if (fence === null) {
      const m = /^(```+)\s*(\S*)\s*$/.exec(line);
      if (m) {
        fence = m[1];
        body = m[2] === 'hcl' ? [] : null;
      }
    } else if (line.trim() === fence) {
      if (body) blocks.push(body.join('\n') + '\n');
      fence = null;
      body = null;
    } else body?.push(line);
  }
  if (fence !== null) throw new Error(`a code block opened with ${fence} is never closed`);
  return blocks;
}

function collectExamples(): Example[] {
  const examples: Example[] = [];
  for (const file of markdownFiles(DOCS)) {
    const rel = path.relative(DOCS, file);
    let blocks: string[];
    try {
      blocks = hclBlocks(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`${rel}: ${(e as Error).message}`);
    }
    blocks.forEach((text, i) => examples.push({ name: `${rel} hcl block ${i + 1}`, file: rel, text }));
  }
  return examples;
}

const EXAMPLES = collectExamples();

/** Fails unless the example follows the conventions above, so a broken convention is named, not guessed at. */
function checkConventions(ex: Example): void {
  const problems: string[] = [];
  if (!/required_providers\s*\{[\s\S]*cloudlet\s*=\s*\{[\s\S]*source\s*=\s*"cloudlet-iac\/cloudlet"/.test(ex.text)) problems.push('no required_providers entry for cloudlet-iac/cloudlet');
  const provider = /^provider\s+"cloudlet"\s*\{([^}]*)\}/m.exec(ex.text);
  if (!provider) problems.push('no provider "cloudlet" block');
  else {
    const args = provider[1]
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('//'));
    const other = args.filter((l) => !/^state_dir\s*=/.test(l));
    if (other.length > 0) problems.push(`the provider block sets more than state_dir: ${other.join('; ')}`);
  }
  if (problems.length > 0) throw new Error(`${ex.name} breaks the docs conventions: ${problems.join(', ')}\n--- block\n${ex.text}`);
}

let engine: TestEngine;
let archive: string;
let work: string;
let overlayFile: string;
let cloudImage: string;

async function bases(): Promise<string[]> {
  return (await engine.bases.list()).bases.map((b) => b.id);
}

async function instances(): Promise<{ id: string; name: string }[]> {
  return (await engine.instances.list()).instances;
}

async function overlays(): Promise<string[]> {
  return (await engine.overlays.list()).overlays.map((o) => o.id);
}

/** Puts the engine in the state an example starts from: no instances or overlays, and the base or not. */
async function prepareEngine(withBase: boolean): Promise<void> {
  // Normally nothing is left; after a failed example, this keeps the next one independent of it.
  for (const i of await instances()) await engine.instances.delete(i.id);
  for (const o of await overlays()) await engine.overlays.delete(o);
  const have = (await bases()).includes(tinyBaseId);
  if (withBase && !have) await engine.opOk((api) => api.bases.import({ source: archive, sha256: tinyBaseId }), 'import the tiny base');
  if (!withBase && have) await engine.bases.delete(tinyBaseId);
}

function substitute(text: string): string {
  return text
    .split(ARCHIVE_PLACEHOLDER)
    .join(archive)
    .split(OVERLAY_PLACEHOLDER)
    .join(overlayFile)
    .split(BASE_ID_PLACEHOLDER)
    .join(tinyBaseId)
    .split(CLOUD_IMAGE_PLACEHOLDER)
    .join(cloudImage)
    .split('\n')
    .filter((l) => !/^\s*state_dir\s*=/.test(l)) // the engine is the test's, named by CLOUDLET_ENDPOINT
    .join('\n');
}

beforeAll(async () => {
  const tiny = await ensureBaseArchive('tiny');
  cloudImage = (await ensureCloudImage()).qcow2;
  tinyBaseId = tiny.baseId;
  archive = tiny.file;
  engine = await TestEngine.start('docs');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-docs-'));

  // A real overlay of the tiny base for the examples' overlay file: resume the base, change something in it,
  // capture, download; then remove what that made, so every example starts from a clean engine.
  await prepareEngine(true);
  overlayFile = path.join(work, 'app.clov');
  await makeOverlayFile(engine, tiny, overlayFile, 'echo from-the-docs-overlay > /data/docs.txt && sync');
  expect(await instances()).toEqual([]);
  expect(await overlays()).toEqual([]);
});

afterAll(async () => {
  await engine?.destroy();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('the docs have runnable examples, and a page for every resource and data source', () => {
  const pages = markdownFiles(DOCS).map((f) => path.relative(DOCS, f));
  expect(pages).toEqual(
    expect.arrayContaining(['index.md', 'resources/base_vm.md', 'resources/overlay.md', 'resources/customization.md', 'resources/instance.md', 'data-sources/engine.md', 'data-sources/base_vm.md']),
  );
  expect(EXAMPLES.length).toBeGreaterThan(0);
});

test.each(EXAMPLES.map((e) => [e.name, e] as const))('%s', async (_name, ex) => {
  checkConventions(ex);
  const managesBase = /^resource\s+"cloudlet_base_vm"/m.test(ex.text);
  await prepareEngine(!managesBase);
  const tf = new TerraformDir('docs', { CLOUDLET_ENDPOINT: engine.endpoint, CLOUDLET_TOKEN: engine.token });
  tf.write('main.tf', substitute(ex.text));
  let failure: unknown = null;
  let initialized = false;
  try {
    await tf.ok(['init', '-input=false']);
    initialized = true;
    await tf.ok(['apply', '-auto-approve', '-input=false']);
    await tf.ok(['plan', '-input=false', '-detailed-exitcode'], [0]);
  } catch (e) {
    failure = e;
  }
  // Destroy whatever was made, even after a failure, and report the first failure.
  if (initialized) {
    const d = await tf.run(['destroy', '-auto-approve', '-input=false']);
    if (!failure && d.code !== 0) failure = new Error(`terraform destroy exited ${d.code}\n--- stdout\n${d.stdout}\n--- stderr\n${d.stderr}`);
  }
  if (failure) {
    throw new Error(`${ex.name} (working directory kept: ${tf.dir}):\n${(failure as Error).message}\n--- main.tf\n${substitute(ex.text)}`);
  }
  tf.cleanup();
  expect(await instances()).toEqual([]);
  expect(await overlays()).toEqual([]);
  if (managesBase) expect(await bases()).toEqual([]);
});
