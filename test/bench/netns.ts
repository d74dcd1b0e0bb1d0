// An emulated network link for benchmarks: a network namespace joined to the host by a veth pair, with
// host → namespace traffic shaped by tc (tbf). Engines run inside the namespace with `ip netns exec`.

import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const NS = 'clbench';
export const HOST_IF = 'clb-h';
export const HOST_IP = '10.77.0.1';
export const NS_IP = '10.77.0.2';
/** Prefix for a command line that runs it inside the namespace. */
export const IN_NS = ['ip', 'netns', 'exec', NS];

export const sh = (cmd: string[], check = true): string => {
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8' });
  if (check && r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

export function netnsUp(): void {
  if (process.getuid?.() !== 0) throw new Error('this benchmark needs root (network namespaces and tc)');
  netnsDown();
  sh(['ip', 'netns', 'add', NS]);
  sh(['ip', 'link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', 'clb-n']);
  sh(['ip', 'link', 'set', 'clb-n', 'netns', NS]);
  sh(['ip', 'addr', 'add', `${HOST_IP}/24`, 'dev', HOST_IF]);
  sh(['ip', 'link', 'set', HOST_IF, 'up']);
  sh([...IN_NS, 'ip', 'addr', 'add', `${NS_IP}/24`, 'dev', 'clb-n']);
  sh([...IN_NS, 'ip', 'link', 'set', 'clb-n', 'up']);
  sh([...IN_NS, 'ip', 'link', 'set', 'lo', 'up']);
}

export function netnsDown(): void {
  sh(['ip', 'link', 'del', HOST_IF], false);
  sh(['ip', 'netns', 'del', NS], false);
}

/** Shapes host -> namespace traffic (downloads into the namespace); null removes shaping. */
export function shape(mbit: number | null): void {
  sh(['tc', 'qdisc', 'del', 'dev', HOST_IF, 'root'], false);
  if (mbit !== null) sh(['tc', 'qdisc', 'add', 'dev', HOST_IF, 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', '256kb', 'latency', '100ms']);
}

/**
 * Downloads URLs from inside the namespace, one after another; returns wall seconds. Asynchronous: the file
 * server answering it may live in this process.
 */
export async function fetchInNs(urls: string[], outDir: string): Promise<number> {
  const script = `
const fs=require('node:fs');const path=require('node:path');
(async()=>{const t0=Date.now();for(const u of ${JSON.stringify(urls)}){const r=await fetch(u);if(!r.ok)throw new Error(u+': '+r.status);
const out=fs.createWriteStream(path.join(${JSON.stringify(outDir)},path.basename(new URL(u).pathname)));
for await(const c of r.body){if(!out.write(c))await new Promise(res=>out.once('drain',res));}
await new Promise(res=>out.end(res));}
console.log((Date.now()-t0)/1000);})().catch(e=>{console.error(e);process.exit(1)});`;
  const { stdout } = await execFileAsync(IN_NS[0], [...IN_NS.slice(1), process.execPath, '-e', script], { encoding: 'utf8' });
  return Number(stdout.trim());
}
