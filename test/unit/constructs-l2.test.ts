// The L2 constructs, synthesized with cdktf's Testing helpers: the Terraform JSON each produces, and every
// synth-time validation error (each must name the construct and the prop).

import { TerraformOutput, TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { Construct } from 'constructs';
import { BaseVm, BaseVmDiskImageProps, Cloudlet, CloudletFleet, Network, Placement, SynthesizedInstance, VmOverlay } from '../../constructs';

const HASH = '3a216ae04d886261dae0d9bd229e28388508c9c7c0df47a5273f1eea2d697fa7';

interface Synth {
  provider: { cloudlet: Record<string, unknown>[] };
  resource: Record<string, Record<string, Record<string, unknown>>>;
  data?: Record<string, Record<string, Record<string, unknown>>>;
}

function stack(): TerraformStack {
  return new TerraformStack(Testing.app(), 'test');
}

function synth(s: TerraformStack): Synth {
  return JSON.parse(Testing.synth(s, true)) as Synth;
}

let outputs = 0;

/** What a token resolves to in the synthesized JSON (through an output). */
function ref(s: TerraformStack, v: unknown): string {
  const id = `ref${outputs++}`;
  new TerraformOutput(s, id, { value: v });
  return String((JSON.parse(Testing.synth(s)) as { output: Record<string, { value: unknown }> }).output[id].value);
}

function only<T>(o: Record<string, T> | undefined): T {
  const v = Object.values(o ?? {});
  expect(v).toHaveLength(1);
  return v[0];
}

describe('Cloudlet', () => {
  test('the embedded default is a provider block with no endpoint; state_dir passes through', () => {
    const s = stack();
    new Cloudlet(s, 'edge', { stateDir: '/var/lib/cloudlet' });
    const out = synth(s);
    expect(out.provider.cloudlet).toEqual([{ state_dir: '/var/lib/cloudlet' }]);
  });

  test('a second cloudlet gets an alias; endpoint, sensitive token variable, CA and peers pass through', () => {
    const s = stack();
    new Cloudlet(s, 'home');
    const token = new TerraformVariable(s, 'token', { type: 'string', sensitive: true });
    const c = new Cloudlet(s, 'edge', { endpoint: 'https://edge:7443', token: token.stringValue, caCert: 'PEM', peers: [{ name: 'home', endpoint: 'https://home:7443', token: token.stringValue }] });
    const out = synth(s);
    expect(out.provider.cloudlet).toHaveLength(2);
    const edge = out.provider.cloudlet.find((p) => p.alias === 'edge')!;
    expect(edge).toMatchObject({ alias: 'edge', endpoint: 'https://edge:7443', token: '${var.token}', ca_cert: 'PEM', peer: [{ name: 'home', endpoint: 'https://home:7443', token: '${var.token}' }] });
    expect(c.provider.alias).toBe('edge');
  });

  test('the engine data source is made on first use', () => {
    const s = stack();
    const c = new Cloudlet(s, 'edge');
    expect(ref(s, c.cloudletId)).toMatch(/\$\{data\.cloudlet_engine\./);
    expect(Object.keys(synth(s).data!.cloudlet_engine)).toHaveLength(1);
  });

  test.each([
    [{ endpoint: 'ftp://edge' }, /edge: invalid endpoint: expected unix:\/PATH/],
    [{ endpoint: 'https://edge:7443', stateDir: '/x' }, /edge: invalid stateDir: selects the local embedded engine/],
    [{ token: 'plain-secret' }, /edge: invalid token: a literal token would be written/],
    [{ alias: '1bad' }, /edge: invalid alias/],
    [{ peers: [{ name: 'a', endpoint: 'ftp://x' }] }, /edge: invalid peers\[0\]\.endpoint/],
    [{ peers: [{ name: 'a', endpoint: 'https://a:1', token: 'literal' }] }, /edge: invalid peers\[0\]\.token/],
    [{ peers: [{ name: 'a', endpoint: 'https://a:1' }] }, /edge: invalid peers\[0\]\.token: is required with endpoint/],
    [{ peers: [{ name: 'a' }] }, /edge: invalid peers\[0\]: give endpoint \(with token\) or stateDir/],
    [{ peers: [{ name: 'a', endpoint: 'https://a:1', stateDir: '/a' }] }, /edge: invalid peers\[0\]\.stateDir: cannot be combined/],
    [
      {
        peers: [
          { name: 'a', stateDir: '/a' },
          { name: 'a', stateDir: '/b' },
        ],
      },
      /edge: invalid peers\[1\]\.name: "a" is used twice/,
    ],
  ])('refuses %j', (props, message) => {
    const s = stack();
    expect(() => new Cloudlet(s, 'edge', props)).toThrow(message);
  });
});

describe('BaseVm', () => {
  test('imports from an archive on its cloudlet, with the pin', () => {
    const s = stack();
    const c = new Cloudlet(s, 'edge');
    const b = new BaseVm(s, 'tiny', { cloudlet: c, source: '/images/tiny.tar', sha256: HASH, keepOnDestroy: true });
    const r = only(synth(s).resource.cloudlet_base_vm);
    expect(r).toMatchObject({ source: '/images/tiny.tar', sha256: HASH, keep_on_destroy: true });
    expect(ref(s, b.baseId)).toMatch(/\$\{cloudlet_base_vm\..*\.id\}/);
    expect(b.pinnedHash).toBe(HASH);
  });

  test('fromHash looks the base up with the data source', () => {
    const s = stack();
    const c = new Cloudlet(s, 'edge');
    const b = BaseVm.fromHash(s, 'shared', { cloudlet: c, hash: HASH });
    expect(only(synth(s).data!.cloudlet_base_vm)).toMatchObject({ id: HASH });
    expect(ref(s, b.baseId)).toMatch(/\$\{data\.cloudlet_base_vm\./);
  });

  test.each([
    [{ source: '' }, /tiny: invalid source: a path or URL/],
    [{ source: 'ftp://x/base.tar' }, /tiny: invalid source: only http\(s\) and file URLs/],
    [{ source: '/a.tar', sha256: 'abc' }, /tiny: invalid sha256: expected 64 lowercase hexadecimal digits/],
  ])('refuses %j', (props, message) => {
    const s = stack();
    const c = new Cloudlet(s, 'edge');
    expect(() => new BaseVm(s, 'tiny', { cloudlet: c, ...props })).toThrow(message);
  });

  test('fromDiskImage makes the base from a bootable image, with its sizes and readiness', () => {
    const s = stack();
    const c = new Cloudlet(s, 'edge');
    const b = BaseVm.fromDiskImage(s, 'img', { cloudlet: c, diskImage: '/images/debian.qcow2', name: 'debian', memoryMib: 1024, vcpus: 2, ready: 30, keepOnDestroy: true });
    const r = only(synth(s).resource.cloudlet_base_vm);
    expect(r).toMatchObject({ disk_image: '/images/debian.qcow2', name: 'debian', memory_mib: 1024, vcpus: 2, ready: '30', keep_on_destroy: true });
    expect(r).not.toHaveProperty('source');
    expect(ref(s, b.baseId)).toMatch(/\$\{cloudlet_base_vm\..*\.id\}/);
    expect(b.pinnedHash).toBeUndefined();
  });

  test.each([
    [{ diskImage: '', name: 'x' }, /img: invalid diskImage: a path of a disk image/],
    [{ diskImage: '/d.raw', name: 'Bad Name' }, /img: invalid name: expected lowercase letters/],
    [{ diskImage: '/d.raw', name: 'x', memoryMib: 32 }, /img: invalid memoryMib: expected a whole number from 64 to 65536/],
    [{ diskImage: '/d.raw', name: 'x', vcpus: 0 }, /img: invalid vcpus: expected a whole number from 1 to 64/],
    [{ diskImage: '/d.raw', name: 'x', initrd: '/i' }, /img: invalid initrd: goes with kernel/],
    [{ diskImage: '/d.raw', name: 'x', ready: 'soon' }, /img: invalid ready: expected auto, agent, systemd, cloud-init, tcp:PORT/],
    [{ diskImage: '/d.raw', name: 'x', ready: 'tcp:70000' }, /img: invalid ready: expected auto, agent/],
    [{ diskImage: '/d.raw', name: 'x', ready: '4000' }, /img: invalid ready: expected a number from 0 to 3600, got 4000/],
    [{ diskImage: '/d.raw', name: 'x', firmware: 'coreboot' }, /img: invalid firmware: expected 'bios' or 'uefi'/],
    [{ diskImage: '/d.raw', name: 'x', firmware: 'uefi', kernel: '/k' }, /img: invalid firmware: 'uefi' boots the image's own EFI loader/],
  ])('fromDiskImage refuses %j', (props, message) => {
    const s = stack();
    const c = new Cloudlet(s, 'edge');
    // Deliberately invalid props (a bad `ready` does not even type-check): cast past the compiler.
    expect(() => BaseVm.fromDiskImage(s, 'img', { cloudlet: c, ...props } as unknown as BaseVmDiskImageProps)).toThrow(message);
  });

  test('fromDiskImage with cloud-init, UEFI and a readiness of the guest', () => {
    const s = stack();
    const c = new Cloudlet(s, 'edge');
    BaseVm.fromDiskImage(s, 'img', { cloudlet: c, diskImage: '/images/debian.qcow2', name: 'debian', firmware: 'uefi', ready: 'http://127.0.0.1/health', cloudInit: { userData: '#cloud-config\n' } });
    expect(only(synth(s).resource.cloudlet_base_vm)).toMatchObject({ firmware: 'uefi', ready: 'http://127.0.0.1/health', cloud_init: { user_data: '#cloud-config\n' } });
  });

  test('refuses a missing cloudlet and a bad hash lookup', () => {
    const s = stack();
    const c = new Cloudlet(s, 'edge');
    expect(() => new BaseVm(s, 'x', { cloudlet: undefined as unknown as Cloudlet, source: '/a.tar' })).toThrow(/x: invalid cloudlet/);
    expect(() => BaseVm.fromHash(s, 'y', { cloudlet: c, hash: 'nope' })).toThrow(/y: invalid hash/);
  });
});

describe('VmOverlay', () => {
  function base(s: Construct) {
    const c = new Cloudlet(s, 'edge');
    return new BaseVm(s, 'tiny', { cloudlet: c, source: '/images/tiny.tar', sha256: HASH });
  }

  test('customize makes a customization VM and captures it, ordered after the base', () => {
    const s = stack();
    const o = new VmOverlay(s, 'app', {
      base: base(s),
      customize: { commands: ['echo hi > /data/x'], files: [{ path: '/etc/app.conf', content: 'port=80\n', mode: '0600' }], commandTimeoutSeconds: 60 },
      compressionLevel: 3,
    });
    const out = synth(s);
    const custom = only(out.resource.cloudlet_customization);
    expect(custom).toMatchObject({ name: 'test-app-custom', commands: ['echo hi > /data/x'], command_timeout_seconds: 60, file: [{ path: '/etc/app.conf', content: 'port=80\n', mode: '0600' }] });
    expect(String(custom.base_id)).toMatch(/cloudlet_base_vm/);
    const ov = only(out.resource.cloudlet_overlay);
    expect(String(ov.customization_id)).toMatch(/cloudlet_customization\..*\.id/);
    expect(String(ov.base_id)).toMatch(/cloudlet_base_vm/);
    expect(ov.compression_level).toBe(3);
    expect(ref(s, o.overlayId)).toMatch(/cloudlet_overlay/);
  });

  test('source brings a file or URL, with its hash', () => {
    const s = stack();
    new VmOverlay(s, 'app', { base: base(s), source: 'https://cdn/app.clov', sha256: HASH });
    expect(only(synth(s).resource.cloudlet_overlay)).toMatchObject({ source: 'https://cdn/app.clov', sha256: HASH });
  });

  test.each([
    [{}, /app: invalid source: give source .* or customize/],
    [{ source: '/a.clov', customize: { commands: [] } }, /app: invalid customize: source and customize are alternatives/],
    [{ customize: { commands: ['x'] }, sha256: HASH }, /app: invalid sha256: checks the file at source/],
    [{ source: '/a.clov', compressionLevel: 5 }, /app: invalid compressionLevel: applies to an overlay captured/],
    [{ customize: { commands: ['x'] }, compressionLevel: 20 }, /app: invalid compressionLevel: expected a whole number from 1 to 19/],
    [{ customize: { commands: ['x'], name: 'Bad Name' } }, /app: invalid customize\.name/],
    [{ customize: { commands: ['x'], commandTimeoutSeconds: 0 } }, /app: invalid customize\.commandTimeoutSeconds/],
    [{ customize: { commands: [], files: [{ path: 'etc/x', content: '' }] } }, /app: invalid customize\.files\[0\]\.path: expected an absolute path/],
    [{ customize: { commands: [], files: [{ path: '/x', content: '', mode: 'rw' }] } }, /app: invalid customize\.files\[0\]\.mode: expected an octal file mode/],
    [{ customize: { commands: [], files: [{ path: '/x', content: 'x'.repeat(524289) }] } }, /app: invalid customize\.files\[0\]\.content: at most 524288 bytes/],
  ])('refuses %j', (props, message) => {
    const s = stack();
    const b = base(s);
    expect(() => new VmOverlay(s, 'app', { base: b, ...props })).toThrow(message);
  });
});

describe('SynthesizedInstance', () => {
  function setup(s: Construct) {
    const c = new Cloudlet(s, 'edge');
    const b = new BaseVm(s, 'tiny', { cloudlet: c, source: '/images/tiny.tar', sha256: HASH });
    const o = new VmOverlay(s, 'app', { base: b, customize: { commands: ['true'] } });
    return { c, b, o };
  }

  test('base + overlay on one cloudlet, with sizes and power state; getters are references', () => {
    const s = stack();
    const { b, o } = setup(s);
    const i = new SynthesizedInstance(s, 'web', { base: b, overlay: o, vcpus: 1, memoryMib: 256, powerState: 'paused' });
    const r = only(synth(s).resource.cloudlet_instance);
    expect(r).toMatchObject({ name: 'test-web', vcpus: 1, memory_mib: 256, power_state: 'paused' });
    expect(String(r.overlay_id)).toMatch(/cloudlet_overlay/);
    expect(r.overlay_url).toBeUndefined();
    for (const v of [i.address, i.state, i.placementId, i.instanceId]) expect(ref(s, v)).toMatch(/\$\{cloudlet_instance\./);
    expect(i.cloudlet).toBe(b.cloudlet);
  });

  test('an overlay made on another cloudlet is fetched from its signed URL, checked by hash', () => {
    const s = stack();
    const { o } = setup(s);
    const far = new Cloudlet(s, 'far', { endpoint: 'https://far:7443' });
    const farBase = new BaseVm(s, 'far-tiny', { cloudlet: far, source: 'https://cdn/tiny.tar', sha256: HASH });
    new SynthesizedInstance(s, 'web', { base: farBase, overlay: o });
    const r = only(synth(s).resource.cloudlet_instance);
    expect(String(r.overlay_url)).toMatch(/cloudlet_overlay\..*\.download_url/);
    expect(String(r.overlay_sha256)).toMatch(/cloudlet_overlay\..*\.id/);
    expect(r.provider).toBe('cloudlet.far');
  });

  test('moveTo switches the provider configuration to a cloudlet that lists the source as a peer', () => {
    const s = stack();
    const home = new Cloudlet(s, 'home', { stateDir: '/home-state' });
    const b = new BaseVm(s, 'tiny', { cloudlet: home, source: '/images/tiny.tar', sha256: HASH });
    const far = new Cloudlet(s, 'far', { stateDir: '/srv/far', peers: [home.asPeer('home')] });
    const i = new SynthesizedInstance(s, 'web', { base: b });
    expect(only(synth(s).resource.cloudlet_instance).provider).toBe('cloudlet');
    i.moveTo(far);
    expect(only(synth(s).resource.cloudlet_instance).provider).toBe('cloudlet.far');
    expect(i.cloudlet).toBe(far);
    expect(synth(s).provider.cloudlet.find((p: Record<string, unknown>) => p.alias === 'far')).toMatchObject({ peer: [{ name: 'home', state_dir: '/home-state' }] });
  });

  test('moveTo a cloudlet without peers names the fix; asPeer of the unnamed default is refused', () => {
    const s = stack();
    const { b } = setup(s);
    const far = new Cloudlet(s, 'far', { endpoint: 'https://far:7443' });
    const i = new SynthesizedInstance(s, 'web', { base: b });
    expect(() => i.moveTo(far)).toThrow(/web: invalid moveTo\(target\): .*far has no peers.*asPeer/);
    const t = stack();
    expect(() => new Cloudlet(t, 'plain').asPeer()).toThrow(/plain: invalid stateDir: is needed/);
  });

  test('asPeer of a remote cloudlet carries its endpoint, token and CA', () => {
    const s = stack();
    const token = new TerraformVariable(s, 'token', { sensitive: true, type: 'string' });
    const secret = token.stringValue;
    const edge = new Cloudlet(s, 'edge', { endpoint: 'https://edge:7443', token: secret, caCert: 'PEM' });
    expect(edge.asPeer()).toEqual({ name: 'edge', endpoint: 'https://edge:7443', token: secret, caCert: 'PEM' });
  });

  test('a long construct path still gives a valid, unique name', () => {
    const s = stack();
    const { b } = setup(s);
    const deep = new Construct(s, 'a-very-long-construct-id-that-goes-on-and-on-for-quite-a-while');
    new SynthesizedInstance(deep, 'and-then-the-instance-itself-with-a-long-id', { base: b });
    const name = String(only(synth(s).resource.cloudlet_instance).name);
    expect(name).toMatch(/^[a-z0-9][a-z0-9-]{0,62}$/);
  });

  test.each([
    [{ vcpus: 0 }, /web: invalid vcpus: expected a whole number from 1 to 64/],
    [{ vcpus: 1.5 }, /web: invalid vcpus/],
    [{ memoryMib: 32 }, /web: invalid memoryMib: expected a whole number from 64 to 65536/],
    [{ name: 'Web_1' }, /web: invalid name/],
    [{ powerState: 'asleep' }, /web: invalid powerState/],
  ])('refuses %j', (props, message) => {
    const s = stack();
    const { b } = setup(s);
    expect(() => new SynthesizedInstance(s, 'web', { base: b, ...(props as object) })).toThrow(message);
  });

  test('refuses an overlay made from another base', () => {
    const s = stack();
    const { c, o } = setup(s);
    const other = new BaseVm(s, 'other', { cloudlet: c, source: '/images/other.tar', sha256: 'f'.repeat(64) });
    expect(() => new SynthesizedInstance(s, 'web', { base: other, overlay: o })).toThrow(
      /web: invalid overlay: test\/app applies to base test\/tiny \(3a216ae04d88\), not test\/other \(ffffffffffff\)/,
    );
  });

  test('accepts the same base declared twice by hash', () => {
    const s = stack();
    const { c, o } = setup(s);
    const again = BaseVm.fromHash(s, 'again', { cloudlet: c, hash: HASH });
    expect(() => new SynthesizedInstance(s, 'web', { base: again, overlay: o })).not.toThrow();
  });

  test('refuses a base on another cloudlet', () => {
    const s = stack();
    const { b } = setup(s);
    const far = new Cloudlet(s, 'far', { endpoint: 'https://far:7443' });
    expect(() => new SynthesizedInstance(s, 'web', { base: b, cloudlet: far })).toThrow(/web: invalid cloudlet: the base test\/tiny is on test\/edge, not test\/far/);
  });

  test('refuses, at synth, a cloudlet or base from another stack', () => {
    const app = Testing.app();
    const one = new TerraformStack(app, 'one');
    const two = new TerraformStack(app, 'two');
    const c = new Cloudlet(one, 'edge');
    const b = new BaseVm(one, 'tiny', { cloudlet: c, source: '/images/tiny.tar' });
    new SynthesizedInstance(two, 'web', { base: b });
    expect(() => Testing.synth(two, true)).toThrow(/web: invalid cloudlet: one\/edge is in stack one, but the instance is in two/);
  });
});

describe('Network and instance networking', () => {
  test('a Network synthesizes a cloudlet_network; instances name networks and publish ports; endpoints are attribute getters', () => {
    const s = stack();
    const c = new Cloudlet(s, 'edge');
    const base = BaseVm.fromHash(s, 'base', { cloudlet: c, hash: HASH });
    const backend = new Network(s, 'backend', { cloudlet: c, cidr: '10.240.0.0/24' });
    const def = Network.fromName(s, 'default', c, 'default');
    const web = new SynthesizedInstance(s, 'web', { base, networks: [def, backend], ports: [{ guest: 80 }, { guest: 53, host: 5353, protocol: 'udp' }] });
    const out = synth(s);
    expect(only(out.resource.cloudlet_network)).toMatchObject({ name: 'test-backend', cidr: '10.240.0.0/24' });
    const inst = only(out.resource.cloudlet_instance);
    expect(inst.networks).toEqual(['default', expect.stringMatching(/^\$\{cloudlet_network\.backend_resource_[0-9A-F]+\.name\}$/)]);
    expect(inst.port).toEqual([{ guest: 80 }, { guest: 53, host: 5353, protocol: 'udp' }]);
    expect(ref(s, web.endpoint())).toMatch(/^\$\{element\(cloudlet_instance\.web_resource_[0-9A-F]+\.endpoints, 0\)\}$/);
    expect(ref(s, web.ipAddress)).toMatch(/\.ip_address\}$/);
    expect(ref(s, backend.gateway)).toMatch(/\.gateway\}$/);
  });

  test('bad network props fail synth naming the construct and the prop', () => {
    const s = stack();
    const c = new Cloudlet(s, 'edge');
    const other = new Cloudlet(s, 'other');
    const base = BaseVm.fromHash(s, 'base', { cloudlet: c, hash: HASH });
    expect(() => new Network(s, 'n1', { cloudlet: c, cidr: '10.240.0.1/24' })).toThrow(/test\/n1: invalid cidr: expected the network's own address \(host bits zero\): 10\.240\.0\.0\/24/);
    expect(() => new Network(s, 'n2', { cloudlet: c, cidr: '8.8.8.0/24' })).toThrow(/test\/n2: invalid cidr: expected a private range/);
    expect(() => new SynthesizedInstance(s, 'i1', { base, ports: [{ guest: 80 }, { guest: 80 }] })).toThrow(/test\/i1: invalid ports: port 2: guest port tcp\/80 is published twice/);
    expect(() => new SynthesizedInstance(s, 'i2', { base, ports: [{ guest: 0 }] })).toThrow(/test\/i2: invalid ports: port 1: expected a whole number from 1 to 65535, got 0/);
    expect(() => new SynthesizedInstance(s, 'i3', { base, networks: [], ports: [{ guest: 80 }] })).toThrow(/test\/i3: invalid ports: publishing a port needs a network/);
    const far = new Network(s, 'far', { cloudlet: other });
    expect(() => new SynthesizedInstance(s, 'i4', { base, networks: [far] })).toThrow(/test\/i4: invalid networks\[0\]: test\/far is on test\/other/);
    expect(() => new SynthesizedInstance(s, 'i5', { base, networks: ['Bad Name'] })).toThrow(/test\/i5: invalid networks\[0\]/);
  });
});

describe('CloudletFleet and Placement', () => {
  function fleetStack(context: Record<string, unknown> = {}) {
    const s = new TerraformStack(Testing.app({ context }), 'fleet');
    const token = new TerraformVariable(s, 'token', { type: 'string', sensitive: true });
    const fleet = new CloudletFleet(s, 'fleet', {
      sites: ['a', 'b', 'c'].map((n) => ({ name: n, endpoint: `https://${n}.edge:7443`, token: token.stringValue, caCert: 'PEM' })),
    });
    return { s, fleet, bases: fleet.baseVm('base', { source: 'https://files/base.tar', sha256: HASH }) };
  }

  test('every site is a provider listing every other site as a peer; the base is imported on each', () => {
    const { s } = fleetStack();
    const out = synth(s);
    expect(out.provider.cloudlet.map((p) => p.alias)).toEqual(['a', 'b', 'c']);
    const b = out.provider.cloudlet.find((p) => p.alias === 'b')!;
    expect((b.peer as { name: string; endpoint: string }[]).map((p) => [p.name, p.endpoint])).toEqual([
      ['a', 'https://a.edge:7443'],
      ['c', 'https://c.edge:7443'],
    ]);
    expect(Object.values(out.resource.cloudlet_base_vm).map((r) => r.provider)).toEqual(['cloudlet.a', 'cloudlet.b', 'cloudlet.c']);
  });

  test('an instance placed by a context value runs on that site and depends on the base everywhere; the overlay from a URL', () => {
    const { s, fleet, bases } = fleetStack({ site: 'c' });
    fleet.instance(s, 'web', { bases, placement: Placement.fromContext('site'), overlayUrl: 'https://files/app.clov', overlaySha256: HASH, name: 'web' });
    const inst = only(synth(s).resource.cloudlet_instance);
    expect(inst).toMatchObject({ provider: 'cloudlet.c', overlay_url: 'https://files/app.clov', overlay_sha256: HASH });
    expect(inst.depends_on).toHaveLength(3);
  });

  test('no context value: the first site (or the given default)', () => {
    const { s, fleet, bases } = fleetStack();
    fleet.instance(s, 'one', { bases, placement: Placement.fromContext('site'), name: 'one' });
    fleet.instance(s, 'two', { bases, placement: Placement.fromContext('site', 'b'), name: 'two' });
    expect(Object.values(synth(s).resource.cloudlet_instance).map((r) => r.provider)).toEqual(['cloudlet.a', 'cloudlet.b']);
  });

  test('nearest: the lowest measured round trip wins, unreachable sites are passed over, ties go to the earlier site', () => {
    const { fleet } = fleetStack();
    expect(fleet.choose(Placement.nearest({ a: 30.5, b: 4.2, c: 9 })).node.id).toBe('b');
    expect(fleet.choose(Placement.nearest({ a: null, b: Infinity, c: 80 })).node.id).toBe('c');
    expect(fleet.choose(Placement.nearest({ a: 5, b: 5, c: 5 })).node.id).toBe('a');
    expect(() => fleet.choose(Placement.nearest({ a: null }))).toThrow(/fleet\/fleet: invalid placement: no site has a measured round-trip time/);
    expect(() => fleet.choose(Placement.nearest({ d: 1 }))).toThrow(/invalid placement \(round trips\): "d" is not a site of this fleet \(a, b, c\)/);
  });

  test('synth errors name the prop: an unknown site in the context, duplicate or missing sites, a URL without its hash', () => {
    const { s, fleet, bases } = fleetStack({ site: 'z' });
    expect(() => fleet.instance(s, 'x', { bases, placement: Placement.fromContext('site') })).toThrow(/invalid placement \(context "site"\): "z" is not a site of this fleet \(a, b, c\)/);
    expect(() => fleet.choose(Placement.site('q'))).toThrow(/invalid placement: "q" is not a site/);
    expect(() => new CloudletFleet(stack(), 'f', { sites: [] })).toThrow(/test\/f: invalid sites: a fleet needs at least one site/);
    expect(
      () =>
        new CloudletFleet(stack(), 'f', {
          sites: [
            { name: 'a', stateDir: '/x' },
            { name: 'a', stateDir: '/y' },
          ],
        }),
    ).toThrow(/invalid sites\[1\]\.name: "a" is used twice/);
    expect(() => fleet.instance(s, 'y', { bases, overlayUrl: 'https://files/app.clov' })).toThrow(/invalid overlaySha256: is required with overlayUrl/);
    expect(() => fleet.instance(s, 'w', { bases, overlayUrl: 'ftp://files/app.clov', overlaySha256: HASH })).toThrow(/invalid overlayUrl: expected an http\(s\) URL/);
    expect(() => fleet.instance(s, 'v', { bases: { a: bases.a } })).toThrow(/invalid bases: needs the base on every site \(CloudletFleet\.baseVm\); b has none/);
  });
});
