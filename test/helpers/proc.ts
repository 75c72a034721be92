// A process's memory as Linux reports it in /proc/PID/status.

import fs from 'node:fs';

/** A field of /proc/PID/status in kB (VmRSS: resident now, VmHWM: peak resident). */
export function rssKb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}
