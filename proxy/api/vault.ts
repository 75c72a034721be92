// Where the app keeps secrets it was given in the UI (upstream passwords, identity passwords):
// never in the config file, which refers to them as ${NAME}. The headless host keeps them in a
// JSON file readable by its user only (0600); the desktop app encrypts them with the OS keychain
// (Electron safeStorage) behind the same interface.

import fs from 'node:fs';
import path from 'node:path';

export interface SecretVault {
  get(key: string): string | null;
  set(key: string, value: string): void;
  delete(key: string): void;
  /** Every secret, by key: the environment that `${NAME}` references in the config resolve against. */
  entries(): Record<string, string>;
}

/** Environment-variable-safe, reversible: letters and digits kept, anything else as _hh. */
function envSafe(name: string): string {
  let out = '';
  for (const ch of name) {
    out += /[A-Za-z0-9]/.test(ch) ? ch : `_${ch.codePointAt(0)!.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The vault key (and `${NAME}` in the config) of a connection's upstream password. */
export const upstreamSecretKey = (connection: string): string => `BASTION_UPSTREAM_${envSafe(connection)}`;

/** The vault key (and `${NAME}` in the config) of an identity's password. */
export const identitySecretKey = (identity: string): string => `BASTION_IDENTITY_${envSafe(identity)}`;

/** The vault key (and `${NAME}` in the config) of an identity's own upstream password (`upstream_password`); a prefix no other key can produce. */
export const identityUpstreamSecretKey = (identity: string): string => `BASTION_IDUP_${envSafe(identity)}`;

/** In memory only (tests, or a host that must not write secrets anywhere). */
export class MemoryVault implements SecretVault {
  private readonly map = new Map<string, string>();
  get(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  set(key: string, value: string): void {
    this.map.set(key, value);
  }
  delete(key: string): void {
    this.map.delete(key);
  }
  entries(): Record<string, string> {
    return Object.fromEntries(this.map);
  }
}

/** Writes `text` to `file` atomically (temp file + rename) with the given mode. */
export function writeFileAtomic(file: string, text: string | Buffer, mode: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(tmp, mode); // openSync's mode is filtered by the umask
  fs.renameSync(tmp, file);
}

/**
 * A JSON file of plain secrets, mode 0600 (the headless host). Values are stored as given: the
 * file's protection is its mode, like ~/.pgpass. A file that others can read is tightened on load.
 */
export class FileSecretVault implements SecretVault {
  private cache: Map<string, string> | null = null;

  constructor(readonly file: string) {}

  private load(): Map<string, string> {
    if (this.cache) return this.cache;
    const map = new Map<string, string>();
    if (fs.existsSync(this.file)) {
      const st = fs.statSync(this.file);
      if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) fs.chmodSync(this.file, 0o600);
      const raw = JSON.parse(fs.readFileSync(this.file, 'utf8')) as unknown;
      if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
        for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') map.set(k, v);
      }
    }
    this.cache = map;
    return map;
  }

  private save(): void {
    writeFileAtomic(this.file, `${JSON.stringify(Object.fromEntries(this.load()), null, 2)}\n`, 0o600);
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
