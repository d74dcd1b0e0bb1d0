// Owns the provider's one-time TLS identity for go-plugin AutoMTLS.
//
// When Terraform starts a provider with AutoMTLS it expects the plugin to mint a fresh self-signed certificate,
// put its DER (base64, *unpadded*: go-plugin decodes the handshake field with base64.RawStdEncoding) in the
// handshake line, and serve gRPC over TLS with it. Terraform then trusts exactly that certificate as its only
// root, with ServerName "localhost". Node's crypto can make keys and signatures but has no certificate builder,
// and we take no npm dependency for one, so this file carries a small DER writer and assembles an RFC 5280
// certificate by hand. Everything here is written to pass Go's crypto/x509 parser, which is stricter than
// OpenSSL: it rejects non-minimal INTEGERs and lengths, times that do not re-serialise byte for byte, non-zero
// BIT STRING padding, invalid PrintableString characters, duplicate extensions and mismatched inner/outer
// signature algorithms.

import * as crypto from 'node:crypto';

// ---------------------------------------------------------------------------------------------------------------
// DER writer. Every function returns a complete TLV so callers compose by nesting; nothing is streamed because a
// certificate is well under a kilobyte and DER needs each length before its content anyway.

const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

function encodeLength(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`DER length out of range: ${n}`);
  if (n < 0x80) return Buffer.of(n);
  // Long form must use the fewest octets (Go's cryptobyte rejects leading zero length octets and long form
  // for lengths under 128).
  const octets: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) octets.unshift(v % 256);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

function tlv(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(tag), encodeLength(content.length), content]);
}

function sequence(...elements: Buffer[]): Buffer {
  return tlv(TAG.SEQUENCE, Buffer.concat(elements));
}

// Only SET OF is used in X.509 names, and DER orders SET OF members by their encodings, so sort rather than
// trust the caller's order.
function set(...elements: Buffer[]): Buffer {
  return tlv(TAG.SET, Buffer.concat([...elements].sort((a, b) => Buffer.compare(a, b))));
}

// Treats `magnitude` as an unsigned big-endian number: DER wants the shortest two's-complement form, so drop
// redundant leading zeros, then add one back if the top bit would otherwise read as a sign.
function integer(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let body = Buffer.from(magnitude.subarray(start));
  if (body.length === 0) body = Buffer.of(0);
  if (body[0] & 0x80) body = Buffer.concat([Buffer.of(0), body]);
  return tlv(TAG.INTEGER, body);
}

function smallInteger(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`unsupported INTEGER: ${n}`);
  const octets: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) octets.unshift(v % 256);
  return integer(Uint8Array.from(octets));
}

function base128(n: number): number[] {
  const out = [n & 0x7f];
  for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) out.unshift(0x80 | (v & 0x7f));
  return out;
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((s) => {
    if (!/^\d+$/.test(s)) throw new Error(`bad OID ${dotted}`);
    const n = Number(s);
    if (!Number.isSafeInteger(n)) throw new Error(`OID arc too large in ${dotted}`);
    return n;
  });
  if (arcs.length < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39)) throw new Error(`bad OID ${dotted}`);
  // The first two arcs share one subidentifier; for arc 2 it can exceed 127 and then needs base-128 too.
  const body = [...base128(arcs[0] * 40 + arcs[1])];
  for (const arc of arcs.slice(2)) body.push(...base128(arc));
  return tlv(TAG.OID, Uint8Array.from(body));
}

function utf8String(s: string): Buffer {
  return tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8'));
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

function isPrintable(s: string): boolean {
  return PRINTABLE.test(s);
}

function printableString(s: string): Buffer {
  // Go refuses the whole certificate if a PrintableString holds anything outside the X.680 set.
  if (!isPrintable(s)) throw new Error(`not a PrintableString: ${JSON.stringify(s)}`);
  return tlv(TAG.PRINTABLE_STRING, Buffer.from(s, 'latin1'));
}

function ia5Bytes(s: string): Buffer {
  if (!/^[\x00-\x7f]*$/.test(s)) throw new Error(`not IA5: ${JSON.stringify(s)}`);
  return Buffer.from(s, 'latin1');
}

function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7) throw new RangeError('unused bits 0..7');
  if (bytes.length === 0 && unusedBits !== 0) throw new RangeError('empty BIT STRING cannot have unused bits');
  if (bytes.length > 0 && (bytes[bytes.length - 1] & ((1 << unusedBits) - 1)) !== 0) {
    throw new RangeError('BIT STRING padding bits must be zero');
  }
  return tlv(TAG.BIT_STRING, Buffer.concat([Buffer.of(unusedBits), bytes]));
}

// For NamedBitList types such as KeyUsage: bit 0 is the most significant bit of the first octet, and DER
// drops trailing zero bits, so the unused-bits count follows from the highest bit set rather than being fixed.
function namedBits(bits: number[]): Buffer {
  for (const b of bits) if (!Number.isInteger(b) || b < 0 || b > 255) throw new RangeError(`bad bit ${b}`);
  if (bits.length === 0) return bitString(Buffer.alloc(0));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc((highest >> 3) + 1);
  for (const b of bits) bytes[b >> 3] |= 0x80 >> (b & 7);
  return bitString(bytes, 7 - (highest & 7));
}

function octetString(bytes: Uint8Array): Buffer {
  return tlv(TAG.OCTET_STRING, bytes);
}

function boolean(v: boolean): Buffer {
  // DER allows only 0x00 and 0xFF.
  return tlv(TAG.BOOLEAN, Buffer.of(v ? 0xff : 0x00));
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

// RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime after, both in whole seconds with "Z". Fractions are
// dropped because Go re-serialises the parsed time and rejects anything that does not match byte for byte.
function time(d: Date): Buffer {
  const ms = d.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('invalid date');
  const y = d.getUTCFullYear();
  if (y < 0 || y > 9999) throw new RangeError(`year ${y} not representable`);
  const rest = pad2(d.getUTCMonth() + 1) + pad2(d.getUTCDate()) + pad2(d.getUTCHours()) + pad2(d.getUTCMinutes()) + pad2(d.getUTCSeconds()) + 'Z';
  if (y >= 1950 && y <= 2049) return tlv(TAG.UTC_TIME, Buffer.from(pad2(y % 100) + rest, 'latin1'));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(String(y).padStart(4, '0') + rest, 'latin1'));
}

function checkTagNumber(n: number): void {
  // Tag numbers above 30 need the multi-octet form, which X.509 never uses here.
  if (!Number.isInteger(n) || n < 0 || n > 30) throw new RangeError(`context tag ${n} unsupported`);
}

// [n] EXPLICIT wraps the whole inner TLV in a constructed context-specific tag (tbsCertificate version [0],
// extensions [3]).
function explicit(n: number, inner: Buffer): Buffer {
  checkTagNumber(n);
  return tlv(0xa0 | n, inner);
}

// [n] IMPLICIT replaces the inner tag, so it takes the content octets only (GeneralName dNSName [2],
// iPAddress [7], AuthorityKeyIdentifier keyIdentifier [0]).
function implicit(n: number, content: Uint8Array, constructed = false): Buffer {
  checkTagNumber(n);
  return tlv((constructed ? 0xa0 : 0x80) | n, content);
}

/** The DER writer, exported so its encoding rules can be tested directly. */
export const der = {
  sequence,
  set,
  integer,
  smallInteger,
  oid,
  utf8String,
  printableString,
  bitString,
  namedBits,
  octetString,
  boolean,
  time,
  explicit,
  implicit,
};

// ---------------------------------------------------------------------------------------------------------------
// Minimal DER reading, only to pull the subjectPublicKey bits out of Node's SPKI export for the key identifier.

interface Element {
  tag: number;
  contentStart: number;
  end: number;
}

function readElement(buf: Buffer, offset: number): Element {
  if (offset + 2 > buf.length) throw new Error('truncated DER');
  const tag = buf[offset];
  let len = buf[offset + 1];
  let pos = offset + 2;
  if (len & 0x80) {
    const count = len & 0x7f;
    if (count === 0 || count > 4 || pos + count > buf.length) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < count; i++) len = len * 256 + buf[pos + i];
    pos += count;
  }
  if (pos + len > buf.length) throw new Error('truncated DER');
  return { tag, contentStart: pos, end: pos + len };
}

function subjectPublicKeyBits(spki: Buffer): Buffer {
  const outer = readElement(spki, 0);
  if (outer.tag !== TAG.SEQUENCE) throw new Error('SPKI is not a SEQUENCE');
  const algorithm = readElement(spki, outer.contentStart);
  const key = readElement(spki, algorithm.end);
  if (key.tag !== TAG.BIT_STRING || spki[key.contentStart] !== 0) throw new Error('unexpected SPKI public key');
  // RFC 5280 4.2.1.2 method 1 hashes the key bits without tag, length or the unused-bits octet.
  return spki.subarray(key.contentStart + 1, key.end);
}

// ---------------------------------------------------------------------------------------------------------------
// The certificate.

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

// KeyUsage named bits (RFC 5280 4.2.1.3).
const KU_DIGITAL_SIGNATURE = 0;
const KU_KEY_ENCIPHERMENT = 2;
const KU_KEY_CERT_SIGN = 5;

const ORGANIZATION = 'cloudlet-iac';
const CLOCK_SKEW_MS = 30_000;
const DAY_MS = 86_400_000;

function directoryString(s: string): Buffer {
  // Same choice Go's own encoder makes, so names look familiar to Go tooling.
  return isPrintable(s) ? printableString(s) : utf8String(s);
}

function attribute(type: string, value: string): Buffer {
  return set(sequence(oid(type), directoryString(value)));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  // critical DEFAULT FALSE: DER forbids encoding a default, so FALSE is omitted rather than written.
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

function randomSerial(): Buffer {
  // Positive by construction because integer() treats the bytes as unsigned; all-zero would be serial 0,
  // which RFC 5280 forbids, so draw again in that (2^-128) case.
  for (;;) {
    const bytes = crypto.randomBytes(16);
    if (bytes.some((b) => b !== 0)) return bytes;
  }
}

function toPem(label: string, body: Buffer): string {
  const b64 = body.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export interface SelfSignedCertificate {
  /** PKCS#8 PEM of the P-256 private key. */
  keyPem: string;
  certPem: string;
  /** The certificate's DER, which go-plugin's handshake carries base64-encoded without padding. */
  certDer: Buffer;
}

export function selfSignedCertificate(opts: { commonName?: string; days?: number } = {}): SelfSignedCertificate {
  const commonName = opts.commonName ?? 'localhost';
  const days = opts.days ?? 365;
  if (!(Number.isFinite(days) && days > 0)) throw new RangeError(`days must be positive, got ${days}`);
  if (commonName.length === 0) throw new Error('commonName must not be empty');

  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const keyId = crypto.createHash('sha1').update(subjectPublicKeyBits(spki)).digest();

  // Whole seconds, because the encoded times carry no fraction and tests compare against these values.
  const nowSec = Math.floor(Date.now() / 1000) * 1000;
  const notBefore = new Date(nowSec - CLOCK_SKEW_MS);
  const notAfter = new Date(nowSec + Math.round(days * DAY_MS));

  // Issuer and subject are the same bytes; Go matches a self-signed root by comparing them exactly.
  const name = sequence(attribute(OID.organization, ORGANIZATION), attribute(OID.commonName, commonName));
  const signatureAlgorithm = sequence(oid(OID.ecdsaWithSha256)); // parameters absent, per RFC 5758

  const extensions = [
    extension(OID.basicConstraints, true, sequence(boolean(true))),
    extension(OID.keyUsage, true, namedBits([KU_DIGITAL_SIGNATURE, KU_KEY_ENCIPHERMENT, KU_KEY_CERT_SIGN])),
    extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth), oid(OID.clientAuth))),
    extension(
      OID.subjectAltName,
      false,
      // Go checks only SANs for hostnames, never the CN, so DNS:localhost is what makes ServerName work.
      sequence(implicit(2, ia5Bytes('localhost')), implicit(7, Buffer.of(127, 0, 0, 1))),
    ),
    extension(OID.subjectKeyIdentifier, false, octetString(keyId)),
    extension(OID.authorityKeyIdentifier, false, sequence(implicit(0, keyId))),
  ];

  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    integer(randomSerial()),
    signatureAlgorithm,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    spki,
    explicit(3, sequence(...extensions)),
  );

  // Node signs EC keys with a DER ECDSA-Sig-Value by default, which is exactly what X.509 wants in the BIT STRING.
  const signature = crypto.sign('sha256', tbs, privateKey);
  const certDer = sequence(tbs, signatureAlgorithm, bitString(signature));

  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem: toPem('CERTIFICATE', certDer),
    certDer,
  };
}
