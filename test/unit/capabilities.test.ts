// What this cloudlet's QEMU offers, read from libvirt's capability XML, and the check that refuses a
// snapshot needing a machine type or CPU model it lacks.

import { checkRunnable, cpuModelsFrom, machineOf, machinesFrom } from '../../engine/vm/capabilities';

const CAPS = `<capabilities><guest><os_type>hvm</os_type>
  <arch name='i686'><machine maxCpus='255'>pc-i440fx-1.0</machine></arch></guest>
  <guest><os_type>hvm</os_type><arch name='x86_64'><wordsize>64</wordsize>
    <machine maxCpus='255'>pc-i440fx-7.2</machine>
    <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine>
    <machine maxCpus='288'>pc-q35-7.2</machine>
    <machine canonical='pc-q35-7.2' maxCpus='288'>q35</machine>
  </arch></guest></capabilities>`;

const DOMCAPS = `<domainCapabilities><cpu>
  <mode name='host-passthrough' supported='no'/>
  <mode name='custom' supported='yes'>
    <model usable='yes' vendor='unknown'>qemu64</model>
    <model usable='no' vendor='AMD'>phenom</model>
    <model usable='unknown' vendor='Intel'>Icelake-Server</model>
  </mode></cpu></domainCapabilities>`;

test('machine types (with aliases) of x86_64 guests and usable CPU models', () => {
  expect([...machinesFrom(CAPS)].sort()).toEqual(['pc', 'pc-i440fx-7.2', 'pc-q35-7.2', 'q35']);
  expect([...cpuModelsFrom(DOMCAPS)].sort()).toEqual(['Icelake-Server', 'qemu64']);
  expect(machineOf("<domain><os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type></os></domain>")).toBe('pc-i440fx-7.2');
  expect(machineOf('<domain/>')).toBeUndefined();
});

test('a snapshot needing what the host lacks is refused, naming both sides', () => {
  const caps = { machines: machinesFrom(CAPS), cpuModels: cpuModelsFrom(DOMCAPS) };
  expect(() => checkRunnable(caps, { machine: 'pc-i440fx-7.2', cpuModel: 'qemu64' }, 'base b')).not.toThrow();
  expect(() => checkRunnable(caps, { cpuModel: 'qemu64' }, 'base b')).not.toThrow();
  const err = (needs: { machine?: string; cpuModel: string }) => {
    try {
      checkRunnable(caps, needs, 'base web (0123456789ab)');
      return '';
    } catch (e) {
      return `${(e as { code: string }).code}: ${(e as Error).message}`;
    }
  };
  expect(err({ machine: 'pc-i440fx-9.1', cpuModel: 'qemu64' })).toBe(
    "HOST_UNSUPPORTED: base web (0123456789ab) needs machine type pc-i440fx-9.1 (this cloudlet's QEMU offers pc-i440fx-7.2); its memory snapshot cannot be restored here. Nothing was started.",
  );
  expect(err({ machine: 'pc-i440fx-7.2', cpuModel: 'phenom' })).toMatch(/^HOST_UNSUPPORTED: base web \(0123456789ab\) needs CPU model phenom \(this cloudlet offers qemu64 among its 2 models\)/);
  expect(err({ machine: 'pc-i440fx-7.2', cpuModel: 'Icelake-Server-v9' })).toContain('(this cloudlet offers Icelake-Server, qemu64 among its 2 models)');
  expect(err({ machine: 'virt-8.0', cpuModel: 'EPYC' })).toMatch(/needs machine type virt-8\.0 \(.*pc-i440fx-7\.2.*\) and CPU model EPYC/);
});
