/**
 * tls-server-end-point channel binding data (RFC 5929 section 4.1), the only binding type PostgreSQL
 * supports for SCRAM-SHA-256-PLUS.
 * https://www.postgresql.org/docs/current/sasl-authentication.html#SASL-SCRAM-SHA-256
 * https://www.rfc-editor.org/rfc/rfc5929#section-4.1
 *
 * Node's X509Certificate does not expose the signature algorithm, so we read the one OID we need
 * straight from the DER: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }.
 */
import { createHash } from 'node:crypto';

/** Signature algorithm OID -> hash to use. MD5 and SHA-1 are upgraded to SHA-256 per RFC 5929. */
const SIGNATURE_HASH: Record<string, string> = {
  '1.2.840.113549.1.1.4': 'sha256', // md5WithRSAEncryption
  '1.2.840.113549.1.1.5': 'sha256', // sha1WithRSAEncryption
  '1.3.14.3.2.29': 'sha256', // sha1WithRSAEncryption (OIW)
  '1.2.840.113549.1.1.14': 'sha224', // sha224WithRSAEncryption
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'sha384', // sha384WithRSAEncryption
  '1.2.840.113549.1.1.13': 'sha512', // sha512WithRSAEncryption
  '1.2.840.10045.4.1': 'sha256', // ecdsa-with-SHA1
  '1.2.840.10045.4.3.1': 'sha224', // ecdsa-with-SHA224
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384', // ecdsa-with-SHA384
  '1.2.840.10045.4.3.4': 'sha512', // ecdsa-with-SHA512
  '1.2.840.10040.4.3': 'sha256', // dsa-with-sha1
  '2.16.840.1.101.3.4.3.1': 'sha224', // dsa-with-sha224
  '2.16.840.1.101.3.4.3.2': 'sha256', // dsa-with-sha256
};

const RSASSA_PSS = '1.2.840.113549.1.1.10';

/** Digest OIDs that can appear inside RSASSA-PSS parameters (RFC 4055). */
const DIGEST_HASH: Record<string, string> = {
  '1.3.14.3.2.26': 'sha256', // sha1, upgraded per RFC 5929
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/**
 * Hash of the DER certificate as used in the `c=` attribute of SCRAM-SHA-256-PLUS.
 * Throws for certificates whose signature has no associated hash (Ed25519, Ed448, unknown OIDs):
 * libpq and PostgreSQL cannot do channel binding with those either, so do not offer PLUS then.
 */
export function tlsServerEndPointHash(certDer: Buffer): Buffer {
  return createHash(certificateHashAlgorithm(certDer)).update(certDer).digest();
}

/** The hash name (for node:crypto) RFC 5929 prescribes for this certificate. */
export function certificateHashAlgorithm(certDer: Buffer): string {
  const cert = readTlv(certDer, 0, 0x30);
  const tbs = readTlv(certDer, cert.start, 0x30);
  const sigAlg = readTlv(certDer, tbs.end, 0x30);
  const oidTlv = readTlv(certDer, sigAlg.start, 0x06);
  const oid = decodeOid(certDer.subarray(oidTlv.start, oidTlv.end));
  const hash = oid === RSASSA_PSS ? pssHash(certDer, oidTlv.end, sigAlg.end) : SIGNATURE_HASH[oid];
  if (hash === undefined) {
    throw new Error(`tls-server-end-point: no hash defined for certificate signature algorithm ${oid}`);
  }
  return hash;
}

/** RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] AlgorithmIdentifier DEFAULT sha1, ... } */
function pssHash(der: Buffer, pos: number, end: number): string | undefined {
  if (pos >= end) return DIGEST_HASH['1.3.14.3.2.26'];
  const params = readTlv(der, pos, 0x30);
  if (params.start >= params.end || der[params.start] !== 0xa0) return DIGEST_HASH['1.3.14.3.2.26'];
  const explicit = readTlv(der, params.start, 0xa0);
  const algId = readTlv(der, explicit.start, 0x30);
  const oid = readTlv(der, algId.start, 0x06);
  return DIGEST_HASH[decodeOid(der.subarray(oid.start, oid.end))];
}

interface Tlv {
  start: number; // first content byte
  end: number; // one past the last content byte
}

/** Reads one DER tag-length-value at `pos`, insisting on the expected tag. */
function readTlv(der: Buffer, pos: number, tag: number): Tlv {
  if (pos + 2 > der.length || der[pos] !== tag) {
    throw new Error('tls-server-end-point: malformed certificate');
  }
  let len = der[pos + 1];
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > der.length) {
      throw new Error('tls-server-end-point: malformed certificate');
    }
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i];
    start += n;
  }
  if (start + len > der.length) throw new Error('tls-server-end-point: malformed certificate');
  return { start, end: start + len };
}

/** BER OBJECT IDENTIFIER contents -> dotted string. */
function decodeOid(bytes: Buffer): string {
  const arcs: number[] = [];
  let value = 0;
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (arcs.length === 0) {
        arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      } else {
        arcs.push(value);
      }
      value = 0;
    }
  }
  return arcs.join('.');
}
