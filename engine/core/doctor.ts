// The host's fitness for a cloudlet, as `cloudlet doctor` and the engine's start report it: KVM or TCG and
// why, the QEMU and libvirt versions, whether this QEMU can restore the stored bases (machine type, CPU model),
// free disk and memory against the bases' sizes, the state directory's and token's permissions, the host
// networking tools, and the listener. Each problem says how to fix it; a `fail` blocks real use.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CheckRecord } from '../contract/schemas';
import { CloudletError } from '../errors';
import { runTool } from '../net/host-tools';
import { checkRunnable } from '../vm/capabilities';
import { hypervisorType } from '../vm/domain';
import { EngineContext } from './context';

const run = promisify(execFile);

const ok = (name: string, detail: string): CheckRecord => ({ name, status: 'ok', detail });
const warn = (name: string, detail: string, fix: string): CheckRecord => ({ name, status: 'warn', detail, fix });
const fail = (name: string, detail: string, fix: string): CheckRecord => ({ name, status: 'fail', detail, fix });

/** Why this host runs KVM or TCG. */
export function acceleratorCheck(): CheckRecord {
  const forced = process.env.CLOUDLET_ACCEL;
  const kind = hypervisorType();
  if (forced === 'kvm' || forced === 'tcg') return ok('accelerator', `${kind === 'kvm' ? 'KVM' : 'TCG'} (forced by CLOUDLET_ACCEL=${forced})`);
  if (kind === 'kvm') return ok('accelerator', 'KVM (/dev/kvm usable, the CPU offers VMX/SVM)');
  let node = false;
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    node = true;
  } catch {
    node = false;
  }
  const why = node
    ? '/dev/kvm exists but the CPU offers no VMX/SVM (a virtual machine without nested virtualization)'
    : fs.existsSync('/dev/kvm')
      ? '/dev/kvm exists but this user cannot open it'
      : 'there is no /dev/kvm';
  const fix = node
    ? 'enable nested virtualization on the machine that runs this one'
    : fs.existsSync('/dev/kvm')
      ? 'add the engine user to the kvm group'
      : 'load kvm_intel or kvm_amd on a host with VMX/SVM, or pass /dev/kvm into the container';
  return warn('accelerator', `TCG emulation, several times slower than KVM: ${why}`, fix);
}

async function versionOf(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout } = await run(cmd, args, { timeout: 10000 });
    return stdout.split('\n')[0].trim();
  } catch {
    return undefined;
  }
}

/**
 * Every check. `bases` asks libvirt for QEMU's capabilities (the first time takes seconds on a fresh embedded
 * driver), so the engine's start leaves it to `cloudlet doctor`.
 */
export async function hostChecks(ctx: EngineContext, o: { bases: boolean }): Promise<CheckRecord[]> {
  const out: CheckRecord[] = [acceleratorCheck()];
  const qemu = await versionOf('qemu-system-x86_64', ['--version']);
  out.push(qemu ? ok('qemu', qemu) : fail('qemu', 'qemu-system-x86_64 is not installed', 'run engine/host/setup-host.sh (Debian package qemu-system-x86)'));
  const virsh = await versionOf('virsh', ['--version']);
  out.push(
    virsh
      ? ok('libvirt', `libvirt ${virsh}, ${ctx.driver.embedded ? 'embedded driver (no libvirtd)' : ctx.driver.shownUri}`)
      : fail('libvirt', 'virsh is not installed', 'run engine/host/setup-host.sh (Debian packages libvirt-daemon, libvirt-clients)'),
  );
  const bases = ctx.store.listBases();
  if (o.bases) {
    if (!bases.length) out.push(ok('bases', 'no base VMs stored'));
    else {
      const caps = await ctx.driver.capabilities();
      for (const b of bases) {
        try {
          checkRunnable(caps, { machine: b.machine, cpuModel: b.cpuModel }, `base ${b.name} (${b.id.slice(0, 12)})`);
          out.push(ok(`base ${b.name}`, `${b.machine ?? 'machine ?'} and CPU model ${b.cpuModel} are available`));
        } catch (e) {
          out.push(fail(`base ${b.name}`, (e as CloudletError).message, 'run it on a cloudlet whose QEMU offers that machine type and CPU model, or make the base again on this one'));
        }
      }
    }
  }
  const fsStat = fs.statfsSync(ctx.store.root);
  const free = fsStat.bavail * fsStat.bsize;
  const biggest = bases.reduce((m, b) => Math.max(m, b.disk.bytes + b.memory.bytes), 0);
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (free < 2 ** 30) out.push(fail('disk', `${gib(free)} free in ${ctx.store.root}`, 'free space there (delete unused instances, overlays or bases) or move the state directory'));
  else if (biggest && free < biggest)
    out.push(warn('disk', `${gib(free)} free in ${ctx.store.root}, less than the largest base (${gib(biggest)}) an instance may grow to`, 'free space before synthesizing many instances'));
  else out.push(ok('disk', `${gib(free)} free in ${ctx.store.root}`));
  const mem = os.freemem();
  const needMiB = bases.reduce((m, b) => Math.max(m, b.memoryMiB), 0);
  if (needMiB && mem < needMiB * 2 ** 20) out.push(warn('memory', `${gib(mem)} free, less than the largest base's RAM (${needMiB} MiB)`, 'stop instances or add memory'));
  else out.push(ok('memory', `${gib(mem)} free of ${gib(os.totalmem())}`));
  out.push(permissionsCheck(ctx.store.root));
  out.push(await networkingCheck());
  out.push(listenerCheck(ctx.settings.selfEndpoint?.endpoint));
  return out;
}

function permissionsCheck(root: string): CheckRecord {
  const problems: string[] = [];
  const dirMode = fs.statSync(root).mode & 0o777;
  if (dirMode & 0o077) problems.push(`${root} is mode ${dirMode.toString(8)} (others may read VM images)`);
  const token = path.join(root, 'token');
  if (fs.existsSync(token) && fs.statSync(token).mode & 0o077) problems.push(`${token} is readable by others`);
  if (problems.length) return fail('permissions', problems.join('; '), `chmod 700 ${root}; chmod 600 ${token}`);
  return ok('permissions', 'the state directory is the engine user’s alone (0700), the token file 0600');
}

async function networkingCheck(): Promise<CheckRecord> {
  const missing: string[] = [];
  for (const [cmd, args] of [
    ['ip', ['-V']],
    ['nft', ['--version']],
    ['dnsmasq', ['--version']],
  ] as const) {
    if ((await runTool(cmd, [...args]).catch(() => ({ code: -1 }))).code !== 0) missing.push(cmd);
  }
  if (missing.length) return warn('networking', `${missing.join(', ')} missing: instances get no networks`, 'run engine/host/setup-host.sh (iproute2, nftables, dnsmasq-base)');
  const nft = await runTool('nft', ['list', 'tables']).catch(() => ({ code: -1, stderr: '' }));
  if (nft.code !== 0) return warn('networking', 'nftables refuses this user (no CAP_NET_ADMIN): instances get no networks', 'run the engine as root');
  return ok('networking', 'iproute2, nftables and dnsmasq present; network administration allowed');
}

export function listenerCheck(endpoint: string | undefined): CheckRecord {
  if (!endpoint) return ok('listener', 'not serving (checked by the engine that serves)');
  if (endpoint.startsWith('unix:') || endpoint.startsWith('https:')) return ok('listener', endpoint);
  const host = /^http:\/\/([^/:]+|\[[^\]]+\])/.exec(endpoint)?.[1] ?? '';
  if (host === '127.0.0.1' || host === '[::1]' || host === 'localhost') return ok('listener', `${endpoint} (loopback only)`);
  return warn('listener', `${endpoint} is plain HTTP off the host: the token crosses the network in clear`, 'serve TLS: cloudlet engine serve --tls-cert C --tls-key K');
}
