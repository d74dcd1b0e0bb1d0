// Domain descriptions (libvirt XML) for cloudlet VMs: the XML a base VM is first booted with, and the rewrite
// that turns the XML stored in a memory snapshot into one instance's own (name, UUID, disk, serial ports,
// kernel paths). libvirt writes the XML it stores, so the rewrite works on its exact shapes and fails loudly
// when an element it must change is missing.

import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { CloudletError } from '../errors';
import { machineOf } from './capabilities';

/** The CPU model every cloudlet can run: a memory snapshot only restores where the guest CPU is the same. */
export const PORTABLE_CPU_MODEL = 'qemu64';

let accel: 'kvm' | 'qemu' | null = null;

/**
 * KVM when it can work here, else QEMU's TCG emulation. A /dev/kvm node alone is not enough: containers on
 * virtual machines without nested virtualization can have the node while the CPU offers no VMX/SVM, and a
 * guest started with KVM there hangs at boot. CLOUDLET_ACCEL=kvm|tcg overrides the check.
 */
export function hypervisorType(): 'kvm' | 'qemu' {
  if (accel) return accel;
  const forced = process.env.CLOUDLET_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return (accel = forced === 'kvm' ? 'kvm' : 'qemu');
  let usable = false;
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    usable = /^flags\s*:.*\b(vmx|svm)\b/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    usable = false;
  }
  return (accel = usable ? 'kvm' : 'qemu');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');

/** The smallest domain libvirt will start (no disk, no devices to speak of): for probing, started paused. */
export function probeDomainXml(name: string): string {
  return `<domain type='${hypervisorType()}'><name>${esc(name)}</name><memory unit='MiB'>16</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices><memballoon model='none'/></devices></domain>\n`;
}

export interface BootDomainSpec {
  name: string;
  memoryMiB: number;
  vcpus: number;
  disk: { path: string; format: 'raw' | 'qcow2' };
  /** Direct kernel boot; without it the disk's own boot loader is used. */
  kernel?: { kernel: string; initrd?: string; cmdline?: string };
  /** Where libvirt meets the QEMU guest agent (virtio-serial channel org.qemu.guest_agent.0). */
  agentSocket: string;
  consoleLog: string;
  /** 'uefi' boots through OVMF (Debian's ovmf package; libvirt picks the firmware build from QEMU's descriptors). */
  firmware?: 'bios' | 'uefi';
  /** Where a UEFI VM's variable store goes (made by libvirt from the firmware's template). */
  nvram?: string;
  /** A read-only CD-ROM for the first boot (the cloud-init seed), on SEED_DRIVE so it can be ejected by name. */
  seedIso?: string;
  /** The VM's one network card (engine/net/plumbing.ts): on this bridge, through a tap of this name. */
  nic?: GuestNic;
}

/** Where a VM's network card plugs in: its router's guest bridge, through a tap libvirt makes with this name. */
export interface GuestNic {
  bridge: string;
  tap: string;
  mac: string;
}

function nicXml(n: GuestNic): string {
  return `<interface type='bridge'><mac address='${esc(n.mac)}'/><source bridge='${esc(n.bridge)}'/><target dev='${esc(n.tap)}'/><model type='virtio'/></interface>`;
}

/** Whether a domain XML has a network card (bases made before networking had none). */
export function hasNic(xml: string): boolean {
  return /<interface type='bridge'>/.test(xml);
}

/** The IDE drive the cloud-init seed is attached on; ejected (left empty) before the memory snapshot. */
export const SEED_DRIVE = 'hdc';

/** The virtio-serial channel of the QEMU guest agent; libvirt connects to it and carries agent commands. */
export const QEMU_AGENT_CHANNEL = 'org.qemu.guest_agent.0';

function agentChannelXml(socket: string): string {
  return `<channel type='unix'><source mode='bind' path='${esc(socket)}'/><target type='virtio' name='${QEMU_AGENT_CHANNEL}'/></channel>`;
}

/** Whether a domain XML has the QEMU guest agent's channel (bases made before it had only the serial agent). */
export function hasAgentChannel(xml: string): boolean {
  return xml.includes(`name='${QEMU_AGENT_CHANNEL}'`);
}

/** XML for a VM booted from a disk (used to make a base from a disk image). */
export function bootDomainXml(s: BootDomainSpec): string {
  const k = s.kernel;
  const os = k ? `<kernel>${esc(k.kernel)}</kernel>${k.initrd ? `<initrd>${esc(k.initrd)}</initrd>` : ''}${k.cmdline ? `<cmdline>${esc(k.cmdline)}</cmdline>` : ''}` : `<boot dev='hd'/>`;
  const uefi = s.firmware === 'uefi';
  // Secure boot off: its OVMF builds need SMM and the q35 machine, and a guest's own keys are its business.
  const firmware = uefi ? `<firmware><feature enabled='no' name='secure-boot'/><feature enabled='no' name='enrolled-keys'/></firmware>${s.nvram ? `<nvram>${esc(s.nvram)}</nvram>` : ''}` : '';
  const seed = s.seedIso ? `<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='${esc(s.seedIso)}'/><target dev='${SEED_DRIVE}' bus='ide'/><readonly/></disk>` : '';
  return `<domain type='${hypervisorType()}'>
  <name>${esc(s.name)}</name>
  <memory unit='MiB'>${s.memoryMiB}</memory>
  <vcpu>${s.vcpus}</vcpu>
  <os${uefi ? " firmware='efi'" : ''}><type arch='x86_64' machine='pc'>hvm</type>${firmware}${os}</os>
  <features><acpi/><apic/></features>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>${PORTABLE_CPU_MODEL}</model></cpu>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='${s.disk.format}'/><source file='${esc(s.disk.path)}'/><target dev='vda' bus='virtio'/></disk>
    ${seed}
    <serial type='file'><source path='${esc(s.consoleLog)}'/><target port='0'/></serial>
    ${agentChannelXml(s.agentSocket)}
    ${s.nic ? nicXml(s.nic) : ''}
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

export interface SnapshotFacts {
  /** The exact machine type the snapshot was taken on (libvirt expands `pc` to e.g. `pc-i440fx-7.2`). */
  machine?: string;
  memoryMiB: number;
  vcpus: number;
  cpuModel: string;
  hasKernel: boolean;
  hasInitrd: boolean;
  disks: number;
}

/**
 * What a base's memory snapshot XML says about the VM, refusing what would not restore on another cloudlet:
 * a host-dependent CPU, more or fewer than one disk.
 */
export function snapshotFacts(xml: string, what: string): SnapshotFacts {
  const bad = (m: string) => new CloudletError('INVALID_ARGUMENT', `${what}: ${m}`);
  const cpu = /<cpu\b([^>]*)>([\s\S]*?)<\/cpu>|<cpu\b([^>]*)\/>/.exec(xml);
  const mode = cpu ? ((/mode='([^']+)'/.exec(cpu[1] ?? cpu[3] ?? '') ?? [])[1] ?? 'custom') : 'none';
  if (mode === 'host-passthrough' || mode === 'host-model' || mode === 'maximum') {
    throw bad(
      `the VM was saved with CPU mode '${mode}'; its memory snapshot would only restore on an identical host. Save it with an explicit CPU model (e.g. <cpu mode='custom'><model>${PORTABLE_CPU_MODEL}</model></cpu>).`,
    );
  }
  const model = cpu ? (/<model[^>]*>([^<]+)<\/model>/.exec(cpu[2] ?? '') ?? [])[1] : undefined;
  if (!model) throw bad(`the domain XML pins no CPU model; a memory snapshot needs one every cloudlet can run (e.g. ${PORTABLE_CPU_MODEL})`);
  const disks = (xml.match(/<disk type='file' device='disk'>/g) ?? []).length;
  if (disks !== 1) throw bad(`a base VM has exactly one file disk; this one has ${disks}`);
  const memKiB = Number((/<memory unit='KiB'>(\d+)<\/memory>/.exec(xml) ?? [])[1]);
  const vcpus = Number((/<vcpu[^>]*>(\d+)<\/vcpu>/.exec(xml) ?? [])[1]);
  if (!(memKiB > 0) || !(vcpus > 0)) throw bad('the domain XML has no memory size or vCPU count');
  return { machine: machineOf(xml), memoryMiB: Math.round(memKiB / 1024), vcpus, cpuModel: model, hasKernel: /<kernel>/.test(xml), hasInitrd: /<initrd>/.test(xml), disks };
}

export interface InstancePaths {
  name: string;
  uuid?: string;
  disk: string;
  diskFormat: 'raw' | 'qcow2';
  kernel?: string;
  initrd?: string;
  /** For bases saved with the old serial control port (ttyS1): where that port's socket goes now. */
  controlSocket?: string;
  /** The instance's own QEMU guest agent socket (used when the saved XML has the agent's channel). */
  agentSocket?: string;
  consoleLog: string;
  /** The instance's own UEFI variable store (UEFI bases); libvirt makes it from the firmware's template. */
  nvram?: string;
  /** The instance's router (for snapshots with a network card); the card's model and MAC stay as saved. */
  nic?: Omit<GuestNic, 'mac'>;
}

function replaceOnce(xml: string, re: RegExp, by: string, what: string): string {
  if (!re.test(xml)) throw new CloudletError('SAVEFILE_INVALID', `the memory snapshot's domain XML has no ${what}`);
  return xml.replace(re, by);
}

/** Rewrites a saved domain XML for one instance. Device model, CPU and memory layout stay as saved. */
export function instanceDomainXml(saved: string, p: InstancePaths): string {
  let x = saved;
  x = x.replace(/<domain type='[^']*'/, `<domain type='${hypervisorType()}'`);
  x = replaceOnce(x, /<name>[^<]*<\/name>/, `<name>${esc(p.name)}</name>`, '<name>');
  x = replaceOnce(x, /<uuid>[^<]*<\/uuid>/, `<uuid>${p.uuid ?? randomUUID()}</uuid>`, '<uuid>');
  x = replaceOnce(x, /(<disk type='file' device='disk'>\s*<driver name='qemu' type=')[^']*(')/, `$1${p.diskFormat}$2`, 'disk driver');
  x = replaceOnce(x, /(<disk type='file' device='disk'>[\s\S]*?<source file=')[^']*(')/, `$1${esc(p.disk)}$2`, 'disk source');
  // The saved XML records the saved disk's chain (often <backingStore/>, "no backing file"); left in, libvirt
  // would open the instance's qcow2 without its base and unallocated clusters would read as zeros.
  x = x.replace(/<backingStore\/>|<backingStore[\s\S]*?<\/backingStore>/g, '');
  if (p.kernel) x = x.replace(/<kernel>[^<]*<\/kernel>/, `<kernel>${esc(p.kernel)}</kernel>`);
  if (p.initrd) x = x.replace(/<initrd>[^<]*<\/initrd>/, `<initrd>${esc(p.initrd)}</initrd>`);
  // Bases saved before the QEMU guest agent was the one way in have a second serial port on a unix socket; the
  // device must stay for the snapshot to restore, at a path of this instance's.
  const serialSocket = /(<serial type='unix'>[\s\S]*?<source mode='bind' path=')[^']*(')/;
  if (serialSocket.test(x)) {
    if (!p.controlSocket) throw new CloudletError('SAVEFILE_INVALID', "the memory snapshot's domain XML has a unix serial port, and no socket path was given for it");
    x = x.replace(serialSocket, `$1${esc(p.controlSocket)}$2`);
  }
  x = x.replace(/(<serial type='file'>[\s\S]*?<source path=')[^']*(')/, `$1${esc(p.consoleLog)}$2`);
  if (p.agentSocket)
    x = x.replace(
      new RegExp(`(<channel type='unix'>\\s*<source mode='bind' path=')[^']*('[^>]*>\\s*<target type='virtio' name='${QEMU_AGENT_CHANNEL.replace(/\./g, '\\.')}')`),
      `$1${esc(p.agentSocket)}$2`,
    );
  // A UEFI VM's variable store is per VM: each instance gets its own, made by libvirt from the firmware's
  // template when it does not exist yet (variables the base's first boot wrote are not carried over; the
  // image's loader is found again on EFI/BOOT/BOOTX64.EFI, the path firmware falls back to).
  x = x.replace(/<nvram\b([^>]*?)(?:\/>|>[^<]*<\/nvram>)/, (_m, attrs: string) => (p.nvram ? `<nvram${attrs}>${esc(p.nvram)}</nvram>` : `<nvram${attrs}/>`));
  if (hasNic(x)) {
    if (!p.nic) throw new CloudletError('SAVEFILE_INVALID', "the memory snapshot's domain XML has a network card, and no router was given for it");
    const nic = p.nic;
    x = x.replace(/<interface type='bridge'>[\s\S]*?<\/interface>/, (iface) =>
      replaceOnce(
        replaceOnce(iface, /<source bridge='[^']*'\/>/, `<source bridge='${esc(nic.bridge)}'/>`, 'network card source'),
        /<target dev='[^']*'\/>/,
        `<target dev='${esc(nic.tap)}'/>`,
        'network card target',
      ),
    );
    if ((x.match(/<interface /g) ?? []).length > 1) throw new CloudletError('SAVEFILE_UNSUPPORTED', 'the memory snapshot has more than one network card; a base VM has at most one');
  }
  // A reboot inside the guest restarts the VM (bases saved before this said destroy, which stopped it).
  x = x.replace(/<on_reboot>destroy<\/on_reboot>/, '<on_reboot>restart</on_reboot>');
  // libvirt derives <console> from the first serial port; a stale copy would name the old log path.
  x = x.replace(/\s*<console\b[\s\S]*?<\/console>/g, '');
  return x;
}

const MEMORY_BACKING = /\s*<memoryBacking>[\s\S]*?<\/memoryBacking>|\s*<memoryBacking\/>/g;

/**
 * The domain XML with its guest RAM backed by a private (copy-on-write) file mapping, or with no backing
 * element (anonymous memory). libvirt gives QEMU the file `<memory_backing_dir>/<id>-<name>/pc.ram`; the
 * driver puts the base's memory image there before a restore (VmDriver.restore, ram-image.ts).
 */
export function withRamBacking(xml: string, mapped: boolean): string {
  const x = xml.replace(MEMORY_BACKING, '');
  if (!mapped) return x;
  return replaceOnce(
    x,
    /(<currentMemory\b[^>]*>[^<]*<\/currentMemory>|<memory\b[^>]*>[^<]*<\/memory>)/,
    `$1\n  <memoryBacking>\n    <source type='file'/>\n    <access mode='private'/>\n  </memoryBacking>`,
    '<memory>',
  );
}

/** Whether a domain XML maps its RAM from a file (see withRamBacking). */
export function hasRamBacking(xml: string): boolean {
  return /<memoryBacking>[\s\S]*?<source type='file'\/>[\s\S]*?<\/memoryBacking>/.test(xml);
}
