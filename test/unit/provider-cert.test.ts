// The provider's AutoMTLS certificate: hand-built DER must parse in Node and OpenSSL, carry the extensions Go's
// crypto/tls needs (critical CA basic constraints and key usage, server+client EKU, SAN localhost), and actually
// authenticate both directions of a TLS connection while refusing a stranger's certificate.

import * as crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { der, selfSignedCertificate, SelfSignedCertificate } from '../../provider/protocol/cert';

const DAY_MS = 86_400_000;

function hex(b: Buffer): string {
  return b.toString('hex');
}

describe('DER writer', () => {
  test('INTEGER is minimal and stays positive', () => {
    expect(hex(der.integer(Buffer.of(0, 0, 0x7f)))).toBe('02017f');
    expect(hex(der.integer(Buffer.of(0x80)))).toBe('02020080');
    expect(hex(der.integer(Buffer.of(0, 0x80)))).toBe('02020080');
    expect(hex(der.integer(Buffer.of(0, 0)))).toBe('020100');
    expect(hex(der.smallInteger(2))).toBe('020102');
    expect(hex(der.smallInteger(256))).toBe('02020100');
  });

  test('lengths switch to the shortest long form at 128', () => {
    expect(hex(der.octetString(Buffer.alloc(127))).slice(0, 4)).toBe('047f');
    expect(hex(der.octetString(Buffer.alloc(128))).slice(0, 6)).toBe('048180');
    expect(hex(der.octetString(Buffer.alloc(255))).slice(0, 6)).toBe('0481ff');
    expect(hex(der.octetString(Buffer.alloc(256))).slice(0, 8)).toBe('04820100');
    expect(hex(der.octetString(Buffer.alloc(70000))).slice(0, 10)).toBe('0483011170');
  });

  test('OIDs use base-128 arcs and the combined first subidentifier', () => {
    expect(hex(der.oid('1.2.840.10045.4.3.2'))).toBe('06082a8648ce3d040302');
    expect(hex(der.oid('2.5.29.19'))).toBe('0603551d13');
    expect(hex(der.oid('2.999.3'))).toBe('0603883703'); // X.690's example: 2*40+999 needs two octets
    expect(() => der.oid('1.40')).toThrow();
    expect(() => der.oid('1')).toThrow();
  });

  test('named bit lists drop trailing zero bits and count unused bits from the highest set bit', () => {
    expect(hex(der.namedBits([0, 2, 5]))).toBe('030202a4');
    expect(hex(der.namedBits([0]))).toBe('03020780');
    expect(hex(der.namedBits([7]))).toBe('03020001');
    expect(hex(der.namedBits([8]))).toBe('0303070080');
    expect(hex(der.namedBits([]))).toBe('030100');
    expect(() => der.bitString(Buffer.of(0x81), 1)).toThrow(/padding/);
  });

  test('times switch from UTCTime to GeneralizedTime outside 1950-2049 and drop fractions', () => {
    const ascii = (b: Buffer): string => b.subarray(2).toString('latin1');
    const utc = der.time(new Date('2049-12-31T23:59:59.999Z'));
    expect(utc[0]).toBe(0x17);
    expect(ascii(utc)).toBe('491231235959Z');
    const gen = der.time(new Date('2050-01-01T00:00:00Z'));
    expect(gen[0]).toBe(0x18);
    expect(ascii(gen)).toBe('20500101000000Z');
    expect(ascii(der.time(new Date('1950-01-01T00:00:00Z')))).toBe('500101000000Z');
    expect(der.time(new Date('1949-12-31T23:59:59Z'))[0]).toBe(0x18);
  });

  test('SET OF sorts members, strings and tags are checked', () => {
    expect(hex(der.set(der.smallInteger(2), der.smallInteger(1)))).toBe('3106020101020102');
    expect(() => der.printableString('a_b')).toThrow();
    expect(() => der.printableString('a@b')).toThrow();
    expect(hex(der.printableString("A-z 0'()+,./:=?")).slice(0, 4)).toBe('130f');
    expect(hex(der.boolean(true))).toBe('0101ff');
    expect(hex(der.explicit(3, der.sequence()))).toBe('a3023000');
    expect(hex(der.implicit(7, Buffer.of(127, 0, 0, 1)))).toBe('87047f000001');
  });
});

describe('selfSignedCertificate', () => {
  let cert: SelfSignedCertificate;
  let x509: crypto.X509Certificate;
  let before = 0;
  let after = 0;

  beforeAll(() => {
    before = Date.now();
    cert = selfSignedCertificate();
    after = Date.now();
    x509 = new crypto.X509Certificate(cert.certDer);
  });

  test('Node parses it as a self-signed CA for localhost', () => {
    expect(x509.subject.split('\n')).toEqual(expect.arrayContaining(['CN=localhost', 'O=cloudlet-iac']));
    expect(x509.issuer).toBe(x509.subject);
    expect(x509.ca).toBe(true);
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkHost('example.com')).toBeUndefined();
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.checkIssued(x509)).toBe(true);
    expect(x509.checkPrivateKey(crypto.createPrivateKey(cert.keyPem))).toBe(true);
    expect(x509.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    expect(x509.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  test('PEM and DER agree', () => {
    expect(new crypto.X509Certificate(cert.certPem).raw.equals(cert.certDer)).toBe(true);
    expect(cert.certPem.split('\n').every((l) => l.length <= 64)).toBe(true);
  });

  test('validity starts 30 s in the past and lasts the requested days', () => {
    const from = Date.parse(x509.validFrom);
    const to = Date.parse(x509.validTo);
    expect(from).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 30_000);
    expect(from).toBeLessThanOrEqual(after - 30_000);
    expect(to - from).toBe(365 * DAY_MS + 30_000);

    const short = new crypto.X509Certificate(selfSignedCertificate({ days: 2 }).certDer);
    expect(Date.parse(short.validTo) - Date.parse(short.validFrom)).toBe(2 * DAY_MS + 30_000);
  });

  test('a validity that crosses 2050 switches to GeneralizedTime and still parses', () => {
    const long = selfSignedCertificate({ days: 365 * 40 });
    const parsed = new crypto.X509Certificate(long.certDer);
    expect(new Date(parsed.validTo).getUTCFullYear()).toBeGreaterThanOrEqual(2050);
    const dump = openssl(['asn1parse', '-in', '-'], long.certPem);
    expect(dump).toMatch(/UTCTIME\s+:\d{12}Z\n[^\n]*GENERALIZEDTIME\s+:20[5-9]\d{11}Z\n/);
    expect(openssl(['verify', '-CAfile', writeTemp('long.pem', long.certPem), writeTemp('long2.pem', long.certPem)])).toMatch(/: OK/);
  });

  test('a custom common name lands in the subject, and a non-printable one is UTF8String', () => {
    const generated = selfSignedCertificate({ commonName: 'provider-ü' });
    const named = new crypto.X509Certificate(generated.certDer);
    expect(named.subject).toMatch(/CN=provider-ü/);
    expect(named.checkHost('localhost')).toBe('localhost');
    const dump = openssl(['asn1parse', '-in', '-'], generated.certPem);
    expect(dump).toMatch(/UTF8STRING/);
    expect(dump).toMatch(/PRINTABLESTRING\s+:cloudlet-iac/);
  });

  test('every call makes a new key and serial', () => {
    const other = selfSignedCertificate();
    const otherX509 = new crypto.X509Certificate(other.certDer);
    expect(otherX509.serialNumber).not.toBe(x509.serialNumber);
    expect(other.keyPem).not.toBe(cert.keyPem);
    expect(otherX509.publicKey.equals(x509.publicKey)).toBe(false);
    // 128 random bits, printed without the sign octet DER may add.
    expect(x509.serialNumber).toMatch(/^[0-9A-F]{1,32}$/);
  });

  test('generation is fast enough to run on every provider start', () => {
    selfSignedCertificate();
    const runs = 20;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < runs; i++) selfSignedCertificate();
    const avgMs = Number(process.hrtime.bigint() - t0) / 1e6 / runs;
    expect(avgMs).toBeLessThan(50);
  });

  test('OpenSSL shows the required extensions with the right criticality and verifies the self-signature', () => {
    // OpenSSL 3's x509 treats `-in -` as a file named "-"; with no -in it reads stdin.
    const text = openssl(['x509', '-noout', '-text'], cert.certPem);
    expect(text).toMatch(/Version: 3 \(0x2\)/);
    expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE\n/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment, Certificate Sign\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage: *\n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
    expect(text).toMatch(/X509v3 Subject Alternative Name: *\n\s+DNS:localhost, IP Address:127\.0\.0\.1\n/);
    const ski = /X509v3 Subject Key Identifier: *\n\s+([0-9A-F:]+)\n/.exec(text)?.[1];
    const aki = /X509v3 Authority Key Identifier: *\n\s+(?:keyid:)?([0-9A-F:]+)\n/.exec(text)?.[1];
    expect(ski).toHaveLength(59); // 20 bytes of SHA-1
    expect(aki).toBe(ski);

    // RFC 5280 method 1: SHA-1 over the public key bits, which for P-256 are the trailing 65-byte point.
    const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
    const expected = crypto.createHash('sha1').update(spki.subarray(-65)).digest('hex');
    expect(ski?.replace(/:/g, '').toLowerCase()).toBe(expected);

    const file = writeTemp('cert.pem', cert.certPem);
    expect(openssl(['verify', '-CAfile', file, file])).toMatch(/cert\.pem: OK/);
    // A different certificate must not be accepted as its issuer, or the check above proves nothing.
    const stranger = writeTemp('stranger.pem', selfSignedCertificate().certPem);
    expect(() => openssl(['verify', '-CAfile', stranger, file])).toThrow(/unable to get local issuer|error/i);
  });
});

describe('mutual TLS with two generated certificates', () => {
  let server: tls.Server;
  let port = 0;
  let serverA: SelfSignedCertificate;
  let clientB: SelfSignedCertificate;
  // Node's server checks the client certificate only after the handshake and then drops the socket without an
  // alert, so the event's error is a bare "socket hang up"; the verification result is on the socket.
  const refusals: { error: Error; reason: string }[] = [];
  const peerCerts: Buffer[] = [];

  beforeAll(async () => {
    serverA = selfSignedCertificate();
    clientB = selfSignedCertificate();
    server = tls.createServer(
      {
        key: serverA.keyPem,
        cert: serverA.certPem,
        ca: [clientB.certPem],
        requestCert: true,
        rejectUnauthorized: true,
      },
      (sock) => {
        peerCerts.push(sock.getPeerCertificate().raw);
        sock.on('data', (d: Buffer) => sock.end(Buffer.concat([Buffer.from('echo:'), d])));
        sock.on('error', () => undefined); // a client hanging up early is not this test's concern
      },
    );
    server.on('tlsClientError', (error: Error, sock: tls.TLSSocket) => refusals.push({ error, reason: String(sock.authorizationError) }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('the trusted client and server authenticate each other and data flows', async () => {
    const result = await exchange(port, clientB, serverA.certPem);
    expect(result.error).toBeUndefined();
    expect(result.reply).toBe('echo:ping');
    expect(result.authorized).toBe(true);
    expect(result.serverCert?.equals(serverA.certDer)).toBe(true);
    expect(peerCerts.at(-1)?.equals(clientB.certDer)).toBe(true);
  });

  test('a client presenting a different fresh certificate is refused by the server', async () => {
    const strangerC = selfSignedCertificate();
    const refusedBefore = refusals.length;
    const accepted = peerCerts.length;
    const result = await exchange(port, strangerC, serverA.certPem);
    expect(result.reply).toBeUndefined();
    expect(result.error).toBeDefined();
    await waitFor(() => refusals.length > refusedBefore);
    // C is self-signed and not in the server's trust list.
    expect(refusals.at(-1)?.reason).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(peerCerts.length).toBe(accepted);
  });

  test('a client that trusts some other certificate refuses the server, as Terraform would', async () => {
    const result = await exchange(port, clientB, selfSignedCertificate().certPem);
    expect(result.reply).toBeUndefined();
    expect(result.error?.message).toMatch(/certificate|issuer/i);
  });
});

interface Exchange {
  reply?: string;
  error?: Error;
  authorized?: boolean;
  serverCert?: Buffer;
}

function exchange(port: number, client: SelfSignedCertificate, trustedServerPem: string): Promise<Exchange> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: Exchange): void => {
      if (settled) return;
      settled = true;
      sock.destroy();
      resolve(r);
    };
    const sock = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      key: client.keyPem,
      cert: client.certPem,
      ca: [trustedServerPem],
      rejectUnauthorized: true,
    });
    let reply = '';
    sock.on('secureConnect', () => sock.write('ping'));
    sock.on('data', (d: Buffer) => (reply += d.toString()));
    sock.on('end', () => finish(reply ? { reply, authorized: sock.authorized, serverCert: sock.getPeerCertificate().raw } : { error: new Error('closed without a reply') }));
    sock.on('error', (error: Error) => finish({ error }));
    sock.on('close', () => finish(reply ? { reply } : { error: new Error('closed without a reply') }));
  });
}

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

let tmpDir: string | undefined;
afterAll(() => {
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

function writeTemp(name: string, content: string): string {
  tmpDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'provider-cert-'));
  const file = path.join(tmpDir, name);
  fs.writeFileSync(file, content);
  return file;
}

function openssl(args: string[], input?: string): string {
  const r = spawnSync('openssl', args, { input, encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stdout}${r.stderr}`);
  return r.stdout;
}
