// `cloudlet engine install`: makes this host a cloudlet. Writes the API token (0600), the engine's TLS identity
// and a systemd unit that runs `cloudlet engine serve` against the host's libvirtd (qemu:///system), then starts
// it when systemd runs the host. Run again, it keeps the token and the CA (clients keep trusting the engine) and
// renews the engine's certificate; --rotate-token makes a new token.

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CloudletError } from '../errors';
import { defaultPublishAddress } from '../net/plumbing';
import { TLS_FILES, checkCertAndKey, ensureTokenFile, makeCa, makeServerCert, renderUnit, systemdQuote } from '../host/service';
import { OptionSpec, helpText, parseArgs } from './args';

const INSTALL: OptionSpec = {
  'state-dir': { type: 'string', help: 'the engine state directory (default /var/lib/cloudlet)' },
  'config-dir': { type: 'string', help: 'token and TLS files (default /etc/cloudlet)' },
  'unit-dir': { type: 'string', help: 'where the systemd unit goes (default /etc/systemd/system)' },
  'unit-name': { type: 'string', help: 'the unit name (default cloudlet-engine)' },
  listen: { type: 'string', help: 'HOST:PORT the engine serves HTTPS on (default 0.0.0.0:7443)' },
  'libvirt-uri': { type: 'string', help: "libvirt URI (default qemu:///system: the host's libvirtd; embedded: the engine's own driver, no libvirtd)" },
  hostname: {
    type: 'string',
    multiple: true,
    help: "a name or address clients use for this host, for the certificate (repeatable; default: the host's name, its publish address, localhost, 127.0.0.1)",
  },
  'publish-address': { type: 'string', help: "the address instances' ports are published on (default: the default route's source address)" },
  advertise: { type: 'string', help: 'the URL peers reach this engine at (default https://<first --hostname>:<port>)' },
  'tls-cert': { type: 'string', help: 'serve this PEM certificate (with --tls-key) instead of making one' },
  'tls-key': { type: 'string', help: 'the private key of --tls-cert' },
  'ca-cert': { type: 'string', help: "sign the engine's certificate with this CA (with --ca-key; default: a CA made here)" },
  'ca-key': { type: 'string', help: 'the private key of --ca-cert (read, not copied)' },
  'rotate-token': { type: 'boolean', help: 'replace the existing token with a new one' },
  'no-start': { type: 'boolean', help: 'write the files only; do not run systemctl' },
};

export const INSTALL_USAGE = `  cloudlet engine install [options]   (this host as a cloudlet: systemd unit, TLS, token, qemu:///system)\n${helpText(INSTALL)}`;

/** Whether systemd manages this machine (sd_booted(3)'s test). */
function systemdRuns(): boolean {
  return fs.existsSync('/run/systemd/system');
}

function libvirtReachable(uri: string): string | undefined {
  const r = spawnSync('virsh', ['-c', uri, 'uri'], { encoding: 'utf8', timeout: 20000 });
  if (r.error) return r.error.message;
  return r.status === 0 ? undefined : (r.stderr || r.stdout).trim().split('\n')[0];
}

export async function installCommand(argv: string[], out: (s: string) => void): Promise<void> {
  const { positionals, options: o } = parseArgs(argv, INSTALL, INSTALL_USAGE);
  if (positionals.length) throw new CloudletError('INVALID_ARGUMENT', `unexpected argument ${positionals[0]}\n${INSTALL_USAGE}`);
  const str = (k: string) => o[k] as string | undefined;
  if (!!str('tls-cert') !== !!str('tls-key')) throw new CloudletError('INVALID_ARGUMENT', '--tls-cert and --tls-key go together');
  if (!!str('ca-cert') !== !!str('ca-key')) throw new CloudletError('INVALID_ARGUMENT', '--ca-cert and --ca-key go together');
  if (str('tls-cert') && str('ca-cert')) throw new CloudletError('INVALID_ARGUMENT', '--tls-cert (a certificate to serve) and --ca-cert (a CA to sign one with) exclude each other');
  const listen = str('listen') ?? '0.0.0.0:7443';
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d+)$/.exec(listen);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new CloudletError('INVALID_ARGUMENT', `--listen ${listen}: expected HOST:PORT (the service serves HTTPS on TCP)`);
  const port = Number(m[2]);
  const listenHost = m[1].replace(/^\[|\]$/g, '');
  const stateDir = path.resolve(str('state-dir') ?? '/var/lib/cloudlet');
  const configDir = path.resolve(str('config-dir') ?? '/etc/cloudlet');
  const unitName = str('unit-name') ?? 'cloudlet-engine';
  if (!/^[A-Za-z0-9:_.@-]+$/.test(unitName)) throw new CloudletError('INVALID_ARGUMENT', `--unit-name ${unitName}: letters, digits and :_.@- only`);
  const unitFile = path.join(path.resolve(str('unit-dir') ?? '/etc/systemd/system'), `${unitName}.service`);
  const libvirtUri = str('libvirt-uri') ?? 'qemu:///system';
  const embedded = libvirtUri === 'embedded' || libvirtUri.startsWith('qemu:///embed');
  const unreachable = embedded ? undefined : libvirtReachable(libvirtUri);
  if (unreachable)
    throw new CloudletError(
      'ENGINE_UNAVAILABLE',
      `libvirt at ${libvirtUri} does not answer: ${unreachable}. Start the host's libvirtd (systemctl enable --now libvirtd; on a machine without systemd: virtlogd --daemon && libvirtd --daemon), or give --libvirt-uri`,
    );
  const publish = str('publish-address') ?? (await defaultPublishAddress().catch(() => undefined));
  const wildcard = listenHost === '0.0.0.0' || listenHost === '::';
  const names = (o.hostname as string[] | undefined)?.length ? (o.hostname as string[]) : [os.hostname(), ...(wildcard ? [] : [listenHost]), ...(publish ? [publish] : []), 'localhost', '127.0.0.1'];

  try {
    fs.mkdirSync(path.join(configDir, 'tls'), { recursive: true, mode: 0o700 });
    fs.chmodSync(configDir, 0o700);
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.dirname(unitFile), { recursive: true });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new CloudletError(
      'INVALID_ARGUMENT',
      `${err.path ?? configDir}: ${err.code === 'EACCES' ? 'permission denied (run as root, or give --config-dir, --state-dir and --unit-dir you can write)' : err.message}`,
    );
  }
  const tokenFile = path.join(configDir, 'token');
  if (o['rotate-token']) fs.rmSync(tokenFile, { force: true });
  const { made } = ensureTokenFile(tokenFile);
  fs.chmodSync(tokenFile, 0o600); // a kept token file is made private too
  out(`${made ? 'made' : 'kept'} the API token ${tokenFile} (0600)`);

  const tls = (f: keyof typeof TLS_FILES) => path.join(configDir, 'tls', TLS_FILES[f]);
  let caForClients: string | undefined;
  if (str('tls-cert')) {
    checkCertAndKey(str('tls-cert')!, str('tls-key')!);
    fs.copyFileSync(str('tls-cert')!, tls('cert'));
    fs.copyFileSync(str('tls-key')!, tls('key'));
    fs.chmodSync(tls('key'), 0o600);
    out(`serving the given certificate ${str('tls-cert')} (copied to ${tls('cert')})`);
  } else {
    let caCert = tls('ca');
    let caKey = tls('caKey');
    if (str('ca-cert')) {
      checkCertAndKey(str('ca-cert')!, str('ca-key')!);
      caCert = str('ca-cert')!;
      caKey = str('ca-key')!;
      fs.copyFileSync(caCert, tls('ca'));
      fs.rmSync(tls('caKey'), { force: true }); // a CA made here before is no longer the one clients trust
      out(`signing with the given CA ${caCert} (its key is not copied)`);
    } else if (fs.existsSync(caCert) && fs.existsSync(caKey)) out(`kept the CA ${caCert}`);
    else {
      makeCa(caCert, caKey, names[0]);
      out(`made a CA ${caCert} (its key ${caKey}, 0600, stays on this host)`);
    }
    makeServerCert({ caCert, caKey, certFile: tls('cert'), keyFile: tls('key'), names });
    caForClients = tls('ca');
    out(`made the engine certificate ${tls('cert')} for ${names.join(', ')}`);
  }

  const advertise = str('advertise') ?? `https://${names[0].includes(':') ? `[${names[0]}]` : names[0]}:${port}`;
  const cli = path.resolve(__dirname, 'main.js');
  const argvServe = [
    process.execPath,
    cli,
    'engine',
    'serve',
    '--state-dir',
    stateDir,
    '--listen',
    listen,
    '--tls-cert',
    tls('cert'),
    '--tls-key',
    tls('key'),
    '--token-file',
    tokenFile,
    ...(libvirtUri === 'embedded' ? [] : ['--libvirt-uri', libvirtUri]),
    '--advertise',
    advertise,
    ...(str('publish-address') ? ['--publish-address', str('publish-address')!] : []),
  ];
  const unit = renderUnit(argvServe, stateDir, embedded ? 'embedded' : libvirtUri);
  fs.writeFileSync(`${unitFile}.tmp`, unit, { mode: 0o644 });
  fs.renameSync(`${unitFile}.tmp`, unitFile);
  out(`wrote the systemd unit ${unitFile}`);

  if (o['no-start']) out(`not started (--no-start): systemctl daemon-reload && systemctl enable --now ${unitName}`);
  else if (systemdRuns()) {
    for (const args of [['daemon-reload'], ['enable', unitName], ['restart', unitName]]) execFileSync('systemctl', args, { stdio: 'inherit' });
    out(`started ${unitName} (systemctl status ${unitName}; journalctl -u ${unitName})`);
  } else out(`systemd does not run this machine: start the engine with\n  ${argvServe.map(systemdQuote).join(' ')}`);

  const ca = caForClients ? ` --ca ${caForClients}` : '';
  out(`\nclients: cloudlet --endpoint ${advertise}${ca} --token-file ${tokenFile} info`);
  out(`terraform: provider "cloudlet" { endpoint = "${advertise}"${caForClients ? `, ca_cert = file("${caForClients}")` : ''}, token = <the token file's content> }`);
}
