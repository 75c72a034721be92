// Client-facing TLS material: the configured certificate, or a self-signed one made on first
// run and kept (key file mode 0600) so clients can pin it.

import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';

export interface ServerTls {
  context: tls.SecureContext;
  /** DER of the leaf certificate, for SCRAM channel binding (tls-server-end-point). */
  certDer: Buffer;
  certFile: string;
}

function load(certFile: string, keyFile: string): ServerTls {
  const cert = readFileSync(certFile);
  const key = readFileSync(keyFile);
  const context = tls.createSecureContext({ cert, key, minVersion: 'TLSv1.2' });
  return { context, certDer: new X509Certificate(cert).raw, certFile };
}

/** Loads the configured pair, or makes (once) and loads a self-signed pair in `dir`. */
export async function serverTls(
  configured: { cert: string; key: string } | null,
  dir: string,
): Promise<ServerTls> {
  if (configured) return load(configured.cert, configured.key);
  const certFile = path.join(dir, 'gateway.crt');
  const keyFile = path.join(dir, 'gateway.key');
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const now = new Date();
    // Loaded only when a certificate must be made (its crypto library is large).
    const { generate } = await import('selfsigned');
    const pems = await generate([{ name: 'commonName', value: 'Bastion gateway' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: new Date(now.getTime() - 60_000),
      notAfterDate: new Date(now.getTime() + 825 * 86_400_000),
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
            { type: 7, ip: '::1' },
          ],
        },
      ],
    });
    writeFileSync(keyFile, pems.private, { mode: 0o600 });
    chmodSync(keyFile, 0o600);
    writeFileSync(certFile, pems.cert, { mode: 0o644 });
  }
  return load(certFile, keyFile);
}
