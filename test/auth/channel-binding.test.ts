import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { generate } from 'selfsigned';
import { certificateHashAlgorithm, tlsServerEndPointHash } from '../../proxy/auth/channel-binding.js';

const der = (pem: string): Buffer => new X509Certificate(pem).raw;

// openssl req -x509 -newkey rsa:1024 -sigopt rsa_padding_mode:pss -sha384 (RSASSA-PSS, SHA-384 params)
const PSS_SHA384 = Buffer.from(
  'MIICYjCCAZegAwIBAgIUJkwnfvqaNB7mA8DCD8qBkPOaU+QwQQYJKoZIhvcNAQEKMDSgDzANBglghkgBZQMEAgIFAKEcMBoGCSqG' +
    'SIb3DQEBCDANBglghkgBZQMEAgIFAKIDAgFOMA4xDDAKBgNVBAMMA3BzczAgFw0yNjExMjcwNTE3NTRaGA8yMTI2MTEwMzA1MTc1' +
    'NFowDjEMMAoGA1UEAwwDcHNzMIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCuqV54m0lijW0Wxd6gAknwwhtTL23wSOdw4aXG' +
    'z4IM/UTXRyuZsJjbdA/+uG38AB4VL2wYcbrAVRSGEHhh+H3tRceIq3wLa8aoDYGD+aWq4wn/QgnbcXbfSVaCtqdYyrPmIVVz6Ktg' +
    'eodhsJyaz9JpGwvrtFV2Ra1uCVKyhFNCVQIDAQABo1MwUTAdBgNVHQ4EFgQUtTov2Aa2+fCYCwiUUwvjVtoHgDIwHwYDVR0jBBgw' +
    'FoAUtTov2Aa2+fCYCwiUUwvjVtoHgDIwDwYDVR0TAQH/BAUwAwEB/zBBBgkqhkiG9w0BAQowNKAPMA0GCWCGSAFlAwQCAgUAoRww' +
    'GgYJKoZIhvcNAQEIMA0GCWCGSAFlAwQCAgUAogMCAU4DgYEApZhozGJ1XF53M8RcYWrC0eLhN+Zxy9Ln46VszxWQCn+5eRpO3tg4' +
    'HJqwOr0rM92oS+uSgullEARZwIzIptXLSVuRk1us8KwD9Hgh2vsHMylCWXziueW5HcPT2un2cbL/uvWMADhwHgB+kXfeYezCQcCk' +
    '+d9Sum+BQABEUPvSGW8=',
  'base64',
);
// `openssl dgst -sha384` of the DER above.
const PSS_SHA384_HASH =
  'b6e7d703bab5900f98574cb5a90ee50ecb76814983a3a2927bfc15d7f3a7c34035f14cb2db0e0da85da4adb26c90bb8f';

// openssl req -x509 -newkey ed25519: a signature with no separate hash.
const ED25519 = Buffer.from(
  'MIIBMDCB46ADAgECAhRxsPIpLWRD500vJ5EcCllJX16lhDAFBgMrZXAwDTELMAkGA1UEAwwCZWQwIBcNMjYxMTI3MDUxNzU0WhgP' +
    'MjEyNjExMDMwNTE3NTRaMA0xCzAJBgNVBAMMAmVkMCowBQYDK2VwAyEAGVKzSfoAe1aZQHiLDujIZbZpEUC4+TqD9wy32FZqqdCj' +
    'UzBRMB0GA1UdDgQWBBTtBdK0zyGrLCKePz2It3lqo8ViGDAfBgNVHSMEGDAWgBTtBdK0zyGrLCKePz2It3lqo8ViGDAPBgNVHRMB' +
    'Af8EBTADAQH/MAUGAytlcANBAG05j8vJ+mCqagBW6Lzokb+rNl7Js5faPbEo4IrFgxEEubMiDAfMhkSrRn242h5gOBr/2vZ+0poL' +
    'QmzD7myoegs=',
  'base64',
);

test('hash follows the certificate signature algorithm; MD5/SHA-1 become SHA-256 (RFC 5929 4.1)', async () => {
  const cases = [
    ['rsa', 'sha1', 'sha256'],
    ['rsa', 'sha256', 'sha256'],
    ['rsa', 'sha384', 'sha384'],
    ['rsa', 'sha512', 'sha512'],
    ['ec', 'sha1', 'sha256'],
    ['ec', 'sha256', 'sha256'],
    ['ec', 'sha384', 'sha384'],
  ] as const;
  for (const [keyType, algorithm, expected] of cases) {
    const cert = der(
      (await generate([{ name: 'commonName', value: 'bastion' }], { keyType, algorithm, keySize: 1024 }))
        .cert,
    );
    assert.equal(certificateHashAlgorithm(cert), expected, `${keyType}/${algorithm}`);
    assert.deepEqual(tlsServerEndPointHash(cert), createHash(expected).update(cert).digest());
    if (expected === 'sha256') {
      // Node's own fingerprint is SHA-256 over the same DER bytes.
      const fingerprint = new X509Certificate(cert).fingerprint256.replaceAll(':', '').toLowerCase();
      assert.equal(tlsServerEndPointHash(cert).toString('hex'), fingerprint);
    }
  }
});

test('RSASSA-PSS takes the hash from the signature parameters', () => {
  assert.equal(certificateHashAlgorithm(PSS_SHA384), 'sha384');
  assert.equal(tlsServerEndPointHash(PSS_SHA384).toString('hex'), PSS_SHA384_HASH);
});

test('signatures without a hash (Ed25519) and garbage throw a clear Error', () => {
  assert.throws(() => tlsServerEndPointHash(ED25519), /no hash defined .* 1\.3\.101\.112/);
  assert.throws(() => tlsServerEndPointHash(Buffer.alloc(0)), /malformed certificate/);
  assert.throws(() => tlsServerEndPointHash(PSS_SHA384.subarray(0, 40)), /malformed certificate/);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        tlsServerEndPointHash(Buffer.from(bytes));
      } catch (err) {
        assert.ok(err instanceof Error && err.message.startsWith('tls-server-end-point'));
      }
    }),
  );
});
