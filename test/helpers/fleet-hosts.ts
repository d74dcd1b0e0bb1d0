// Cloudlet "hosts" for fleet tests: one network namespace per site on one machine, each joined by a veth pair to
// a bridge in the root namespace, which stands for the network between sites (the test, terraform and nginx run
// there, on the bridge's address). Each site's default route points at the bridge, so its engine publishes
// instances' ports on the site's own address.

import { spawnSync } from 'node:child_process';

export const FLEET_BRIDGE = 'clfl-br';
export const FLEET_GATEWAY = '10.251.0.1';

export interface FleetHost {
  name: string;
  netns: string;
  /** The root namespace's end of the site's veth. */
  link: string;
  address: string;
  /** Prefix for a command line that runs inside the site. */
  wrap: string[];
}

const sh = (cmd: string[], check = true): string => {
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8' });
  if (check && r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

export function fleetHostsUp(names: string[]): FleetHost[] {
  if (process.getuid?.() !== 0) throw new Error('fleet hosts need root (network namespaces)');
  fleetHostsDown(names);
  sh(['ip', 'link', 'add', FLEET_BRIDGE, 'type', 'bridge']);
  sh(['ip', 'addr', 'add', `${FLEET_GATEWAY}/24`, 'dev', FLEET_BRIDGE]);
  sh(['ip', 'link', 'set', FLEET_BRIDGE, 'up']);
  return names.map((name, i) => {
    const netns = `clfl-${name}`;
    const link = `clfl-${name}`;
    const address = `10.251.0.${11 + i}`;
    const wrap = ['ip', 'netns', 'exec', netns];
    sh(['ip', 'netns', 'add', netns]);
    sh(['ip', 'link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    sh(['ip', 'link', 'set', link, 'master', FLEET_BRIDGE, 'up']);
    sh([...wrap, 'ip', 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    sh([...wrap, 'ip', 'link', 'set', 'eth0', 'up']);
    sh([...wrap, 'ip', 'link', 'set', 'lo', 'up']);
    sh([...wrap, 'ip', 'route', 'add', 'default', 'via', FLEET_GATEWAY]);
    return { name, netns, link, address, wrap };
  });
}

export function fleetHostsDown(names: string[]): void {
  for (const n of names) {
    sh(['ip', 'link', 'del', `clfl-${n}`], false);
    sh(['ip', 'netns', 'del', `clfl-${n}`], false);
  }
  sh(['ip', 'link', 'del', FLEET_BRIDGE], false);
}
