// What `cloudlet engine install` writes on a host: the systemd unit that runs the engine as a service, the
// engine's TLS identity (a CA made on the host, a CA the operator gives, or a certificate the operator gives)
// and the API token. Certificates are made by Debian's `openssl` command (setup-host.sh installs it): a
// well-kept tool for what is not our product, rather than a certificate builder of our own.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CloudletError } from '../errors';

/** Where the service's files go. */
export interface ServicePaths {
  configDir: string;
  stateDir: string;
  unitFile: string;
}

export const TLS_FILES = { ca: 'ca.pem', caKey: 'ca-key.pem', cert: 'engine.pem', key: 'engine-key.pem' } as const;

/**
 * One argument as systemd's ExecStart= reads it (systemd.syntax(7)): quoted when it holds whitespace or quotes,
 * `%` doubled (specifiers) and `$` doubled (environment expansion), backslash and quote escaped inside quotes.
 */
export function systemdQuote(arg: string): string {
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (escaped !== '' && !/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The argument vector of an ExecStart= line written by systemdQuote (for tests and `--print`). */
export function parseExecStart(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ') i++;
    if (i >= line.length) break;
    let arg = '';
    if (line[i] === '"') {
      for (i++; i < line.length && line[i] !== '"'; i++) arg += line[i] === '\\' ? line[++i] : line[i];
      i++;
    } else for (; i < line.length && line[i] !== ' '; i++) arg += line[i];
    out.push(arg.replace(/%%/g, '%').replace(/\$\$/g, '$'));
  }
  return out;
}

/** The systemd unit for an engine started by `argv`. */
export function renderUnit(argv: string[], stateDir: string, libvirtUri: string): string {
  const libvirtd = libvirtUri.startsWith('qemu:///system');
  return `# Written by \`cloudlet engine install\`; run it again to change this file.
[Unit]
Description=cloudlet IaC engine (state ${stateDir})
${libvirtd ? 'After=network-online.target libvirtd.service\nWants=network-online.target libvirtd.service' : 'After=network-online.target\nWants=network-online.target'}

[Service]
Type=simple
ExecStart=${argv.map(systemdQuote).join(' ')}
Restart=on-failure
RestartSec=2
# VMs and their routers' DHCP servers outlive the engine (the next engine finds them): stop its own process only.
KillMode=process
UMask=0077
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;
}

/**
 * Reads the token file, or writes a fresh 256-bit token there (0600, atomically). The one token rule for
 * `engine serve` and `engine install`.
 */
export function ensureTokenFile(file: string): { token: string; made: boolean } {
  if (fs.existsSync(file)) {
    const token = fs.readFileSync(file, 'utf8').trim();
    if (token.length < 16) throw new CloudletError('INVALID_ARGUMENT', `${file}: a token must be at least 16 characters`);
    return { token, made: false };
  }
  const token = randomBytes(32).toString('hex');
  writePrivate(file, token + '\n');
  return { token, made: true };
}

function writePrivate(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

function openssl(args: string[], what: string): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    const err = e as { code?: string; stderr?: string };
    if (err.code === 'ENOENT') throw new CloudletError('INVALID_ARGUMENT', `${what}: the openssl command is missing (install Debian's openssl package, or run engine/host/setup-host.sh)`);
    throw new CloudletError('INVALID_ARGUMENT', `${what}: openssl failed: ${(err.stderr ?? String(e)).trim().split('\n').slice(-3).join(' / ')}`);
  }
}

/** subjectAltName entries for names and addresses: IPv4/IPv6 literals as IP:, the rest as DNS:. */
export function subjectAltNames(names: string[]): string {
  return [...new Set(names)].map((n) => (/^[\d.]+$/.test(n) || n.includes(':') ? `IP:${n}` : `DNS:${n}`)).join(',');
}

/** Makes a CA (P-256, ten years) for this host's engine: its certificate and private key (0600). */
export function makeCa(certFile: string, keyFile: string, host: string): void {
  const tmpKey = `${keyFile}.tmp-${process.pid}`;
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      tmpKey,
      '-out',
      certFile,
      '-days',
      '3650',
      '-subj',
      `/CN=cloudlet engine CA (${host})`,
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    'making the CA',
  );
  fs.chmodSync(tmpKey, 0o600);
  fs.renameSync(tmpKey, keyFile);
}

/** Makes the engine's server certificate (P-256, 825 days) for `names`, signed by the CA. */
export function makeServerCert(o: { caCert: string; caKey: string; certFile: string; keyFile: string; names: string[] }): void {
  const dir = path.dirname(o.certFile);
  const csr = path.join(dir, `.engine.csr-${process.pid}`);
  const ext = path.join(dir, `.engine.ext-${process.pid}`);
  const tmpKey = `${o.keyFile}.tmp-${process.pid}`;
  try {
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', tmpKey, '-out', csr, '-subj', `/CN=${o.names[0]}`], 'making the engine key');
    fs.chmodSync(tmpKey, 0o600);
    fs.writeFileSync(ext, `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${subjectAltNames(o.names)}\n`);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        o.caCert,
        '-CAkey',
        o.caKey,
        '-CAcreateserial',
        '-CAserial',
        path.join(dir, '.ca.srl'),
        '-days',
        '825',
        '-sha256',
        '-extfile',
        ext,
        '-out',
        `${o.certFile}.tmp`,
      ],
      'signing the engine certificate',
    );
    fs.renameSync(`${o.certFile}.tmp`, o.certFile);
    fs.renameSync(tmpKey, o.keyFile);
  } finally {
    for (const f of [csr, ext, tmpKey, `${o.certFile}.tmp`]) fs.rmSync(f, { force: true });
  }
}

/** Checks that a certificate file and a key file are PEM that openssl reads, and that they belong together. */
export function checkCertAndKey(certFile: string, keyFile: string): void {
  const pub = (args: string[], what: string) => {
    try {
      return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch {
      throw new CloudletError('INVALID_ARGUMENT', `${what} is not a PEM openssl can read`);
    }
  };
  const a = pub(['x509', '-in', certFile, '-noout', '-pubkey'], certFile);
  const b = pub(['pkey', '-in', keyFile, '-pubout'], keyFile);
  if (a.trim() !== b.trim()) throw new CloudletError('INVALID_ARGUMENT', `${keyFile} is not the private key of ${certFile}`);
}
