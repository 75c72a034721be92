// The desktop app's SecretVault: secrets encrypted with the OS keychain through Electron's
// safeStorage (Keychain on macOS, DPAPI on Windows, libsecret/KWallet on Linux), kept as base64
// in a 0600 file in the app's data folder. Where safeStorage has no real key (Linux without a
// keyring: the 'basic_text' backend), it falls back to the headless host's 0600 plain file and
// says so, rather than pretend to encrypt.

import fs from 'node:fs';
import path from 'node:path';
import { safeStorage } from 'electron';
import { FileSecretVault, type SecretVault, writeFileAtomic } from '../proxy/api/vault.js';

export class SafeStorageVault implements SecretVault {
  private cache: Map<string, string> | null = null;

  constructor(readonly file: string) {}

  /** True when safeStorage encrypts with a key the OS protects. */
  static available(): boolean {
    if (!safeStorage.isEncryptionAvailable()) return false;
    return process.platform !== 'linux' || safeStorage.getSelectedStorageBackend() !== 'basic_text';
  }

  private load(): Map<string, string> {
    if (this.cache) return this.cache;
    const map = new Map<string, string>();
    if (fs.existsSync(this.file)) {
      const raw = JSON.parse(fs.readFileSync(this.file, 'utf8')) as Record<string, unknown>;
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') continue;
        try {
          map.set(k, safeStorage.decryptString(Buffer.from(v, 'base64')));
        } catch {
          // Encrypted under another OS account or keychain: that secret has to be entered again.
        }
      }
    }
    this.cache = map;
    return map;
  }

  private save(): void {
    const out: Record<string, string> = {};
    for (const [k, v] of this.load()) out[k] = safeStorage.encryptString(v).toString('base64');
    writeFileAtomic(this.file, `${JSON.stringify(out, null, 2)}\n`, 0o600);
  }

  get(key: string): string | null {
    return this.load().get(key) ?? null;
  }

  set(key: string, value: string): void {
    if (this.load().get(key) === value) return;
    this.load().set(key, value);
    this.save();
  }

  delete(key: string): void {
    if (this.load().delete(key)) this.save();
  }

  entries(): Record<string, string> {
    return Object.fromEntries(this.load());
  }
}

/** The best vault this machine offers, and whether it is encrypted. */
export function appVault(dir: string): { vault: SecretVault; encrypted: boolean } {
  if (SafeStorageVault.available())
    return { vault: new SafeStorageVault(path.join(dir, 'bastion.secrets.enc.json')), encrypted: true };
  return { vault: new FileSecretVault(path.join(dir, 'bastion.secrets.json')), encrypted: false };
}
