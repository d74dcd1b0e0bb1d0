// What this cloudlet's QEMU can run, as libvirt reports it: the x86_64 machine types (with the aliases they
// stand for: `pc` is `pc-i440fx-7.2` on Debian 12) and the CPU models it can provide under the hypervisor in
// use. A memory snapshot restores only on a QEMU that has its exact machine type and CPU model, so the engine
// checks a base's needs against these before it starts anything built from it.

import { CloudletError } from '../errors';

export interface QemuCapabilities {
  machines: Set<string>;
  cpuModels: Set<string>;
}

/** Machine types of the x86_64 guests in `virsh capabilities` output, canonical names and aliases alike. */
export function machinesFrom(capabilitiesXml: string): Set<string> {
  const out = new Set<string>();
  const arch = /<arch name='x86_64'>([\s\S]*?)<\/arch>/g;
  for (let m = arch.exec(capabilitiesXml); m; m = arch.exec(capabilitiesXml)) {
    const machine = /<machine\b([^>]*)>([^<]+)<\/machine>/g;
    for (let x = machine.exec(m[1]); x; x = machine.exec(m[1])) {
      out.add(x[2].trim());
      const canonical = /canonical='([^']+)'/.exec(x[1]);
      if (canonical) out.add(canonical[1]);
    }
  }
  return out;
}

/** CPU models `virsh domcapabilities` lists as usable (or of unknown usability) for custom CPUs. */
export function cpuModelsFrom(domcapabilitiesXml: string): Set<string> {
  const out = new Set<string>();
  const custom = /<mode name='custom' supported='yes'>([\s\S]*?)<\/mode>/.exec(domcapabilitiesXml);
  if (!custom) return out;
  const model = /<model\b([^>]*)>([^<]+)<\/model>/g;
  for (let x = model.exec(custom[1]); x; x = model.exec(custom[1])) {
    if (!/usable='no'/.test(x[1])) out.add(x[2].trim());
  }
  return out;
}

/** The machine type a domain XML names (`<type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>`). */
export function machineOf(domainXml: string): string | undefined {
  return /<type\b[^>]*\bmachine='([^']+)'/.exec(domainXml)?.[1];
}

/**
 * Refuses a snapshot this QEMU cannot restore, naming what it needs and what this cloudlet offers. `what`
 * says whose snapshot it is (a base, by name and id).
 */
export function checkRunnable(caps: QemuCapabilities, needs: { machine?: string; cpuModel: string }, what: string): void {
  const problems: string[] = [];
  if (needs.machine && !caps.machines.has(needs.machine)) {
    const near = [...caps.machines].filter((m) => m.split('-').slice(0, 2).join('-') === needs.machine!.split('-').slice(0, 2).join('-')).sort();
    problems.push(`machine type ${needs.machine} (this cloudlet's QEMU offers ${near.length ? near.join(', ') : [...caps.machines].sort().slice(0, 8).join(', ')})`);
  }
  if (!caps.cpuModels.has(needs.cpuModel)) {
    // The same family first (Icelake-Server-v4 for Icelake-Server-v5), then the portable model bases use.
    const family = needs.cpuModel.split('-')[0];
    const near = [...caps.cpuModels].filter((m) => m.startsWith(family)).sort();
    const shown = [...new Set([...near, ...(caps.cpuModels.has('qemu64') ? ['qemu64'] : [])])];
    const list = shown.length > 0 ? shown : [...caps.cpuModels].sort().slice(0, 12);
    problems.push(`CPU model ${needs.cpuModel} (this cloudlet offers ${list.join(', ')} among its ${caps.cpuModels.size} models)`);
  }
  if (problems.length === 0) return;
  throw new CloudletError('HOST_UNSUPPORTED', `${what} needs ${problems.join(' and ')}; its memory snapshot cannot be restored here. Nothing was started.`);
}
