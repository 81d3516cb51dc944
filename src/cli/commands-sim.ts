/**
 * `zeta sim`: the fleet simulator. Scale mode (default) feeds a simulated fleet straight into the
 * detectors; full mode drives real devices against a running server (API, EST, gateway). Both write
 * events and labels as JSON lines to --out and print a per-attack summary.
 */
import type { Command } from 'commander';
import { ZetaError } from '../common/errors.js';
import { ATTACK_KINDS } from '../monitor/index.js';
import { FULL_ATTACK_KINDS, formatEvaluation, runFullSim, runScaleSim, type FullAttack, type FullSummary, type ScaleSummary } from '../sim/index.js';
import { resolveClient } from './client.js';
import { print, reportError, ProgressBar } from './output.js';

interface SimFlags {
  mode?: string;
  devices?: string;
  days?: string;
  attacks?: string;
  seed?: string;
  out?: string;
  events?: boolean;
  benign?: boolean;
  quietHours?: string;
  server?: string;
  token?: string;
  caFile?: string;
  mqtt?: string;
  speed?: string;
  warmup?: string;
  settle?: string;
  attack?: string;
  prefix?: string;
  json?: boolean;
}

function number(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new ZetaError('ZETA_ERR_VALIDATION', `${flag} must be a number, got ${v}`);
  return n;
}

function scaleHuman(s: ScaleSummary): string {
  return [
    `simulated ${s.devices.toLocaleString('en')} devices from ${s.startedAt} to ${s.endedAt} (${s.deviceDays} device-days, ${s.events.toLocaleString('en')} events)`,
    `benign changes: ${s.benignChanges.join(', ') || 'none'}; cohort notices: ${s.cohortNotices}`,
    '',
    formatEvaluation(s.evaluation),
    `ROC AUC (per record): ${s.rocAuc}; detection ${s.detectEventsPerCpuSecond.toLocaleString('en')} events per CPU-second`,
    ...(Object.keys(s.files).length > 0 ? ['', `written: ${Object.values(s.files).join(', ')}`] : []),
  ].join('\n');
}

function fullHuman(s: FullSummary): string {
  const rows = s.episodes.map((e) => `${e.kind.padEnd(11)} ${e.keys.join(',').padEnd(28)} ${e.delivered.padEnd(8)} ${e.detected ? `detected in ${e.ttdS ?? '-'} s by ${e.rules.join(', ')}` : e.delivered === 'file' ? 'not sent (no ingest endpoint)' : 'not detected'}`);
  return [
    `${s.devices} devices, ${s.messagesPublished.toLocaleString('en')} messages published; ${s.detected}/${s.episodes.length} attacks detected by the server, ${s.falseAlerts} other alert(s)`,
    '',
    `attack      key                          via      result`,
    ...rows,
    '',
    `written: ${Object.values(s.files).join(', ')}`,
  ].join('\n');
}

export function registerSimCommands(program: Command): void {
  program.command('sim')
    .description('run a simulated fleet with labelled attacks and benign changes through the detectors (scale) or against a running server (full)')
    .option('--mode <mode>', 'scale (the detectors in this process) or full (real devices against --server)', 'scale')
    .option('--devices <n>', 'fleet size (scale: 10 to 1,000,000, default 1000; full: default 10)')
    .option('--days <d>', 'scale: simulated days (default 1)')
    .option('--attacks <k>', `scale: episodes per attack kind (${ATTACK_KINDS.join(', ')}), default 2`)
    .option('--seed <s>', 'scale: random seed (same seed, same fleet)')
    .option('--quiet-hours <h>', 'scale: hours before the first episode while the cohorts learn (default 2)')
    .option('--no-events', 'scale: write labels, alerts and summary but not the (large) event files')
    .option('--no-benign', 'scale: leave out the benign changes (roll-out, outage, reboot storm, late joiners)')
    .option('--out <dir>', 'where events, labels, alerts and the summary are written (default zeta-sim-out)')
    .option('--server <url>', 'full: the API (ZETA_SERVER)')
    .option('--token <token>', 'full: an operator or admin API token (ZETA_TOKEN, ZETA_TOKEN_FILE)')
    .option('--ca-file <file>', 'full: CA bundle that verifies the server and the gateway (ZETA_CA_FILE)')
    .option('--mqtt <url>', 'full: the gateway, default mqtts://<server host>:8883')
    .option('--speed <x>', 'full: simulated seconds per second for the diurnal cycle (default 60)')
    .option('--warmup <s>', 'full: seconds of normal behaviour before the first attack (default 20)')
    .option('--settle <s>', 'full: seconds to wait for alerts after the last attack (default 35: alerts are held up to 30 s for cohort context)')
    .option('--attack <list>', `full: comma-separated attacks (${FULL_ATTACK_KINDS.join(', ')}; default all)`)
    .option('--prefix <p>', 'full: run tag in the device ids <type>-<prefix>-<n> (default sim<random>)')
    .option('--json', 'machine-readable summary on stdout')
    .action(async (o: SimFlags) => {
      const ac = new AbortController();
      const onSig = (): void => ac.abort();
      process.once('SIGINT', onSig);
      try {
        const out = o.out ?? 'zeta-sim-out';
        if (o.mode === 'scale' || o.mode === undefined) {
          const bar = new ProgressBar('sim');
          let summary: ScaleSummary | undefined;
          for await (const ev of runScaleSim({
            devices: number(o.devices, '--devices', 1000), days: number(o.days, '--days', 1), attacksPerKind: number(o.attacks, '--attacks', 2),
            seed: number(o.seed, '--seed', 7), quietHours: number(o.quietHours, '--quiet-hours', 2), benign: o.benign !== false, outDir: out, writeEvents: o.events !== false,
          })) {
            if (ac.signal.aborted) throw new ZetaError('ZETA_ERR_VALIDATION', 'interrupted; the files in --out are incomplete');
            if (ev.type === 'progress') bar.update(Math.round(ev.doneMs / 60_000), Math.round(ev.totalMs / 60_000));
            else if (ev.type === 'done') summary = ev.summary;
          }
          if (summary !== undefined) print(summary, o, scaleHuman as (v: never) => string);
        } else if (o.mode === 'full') {
          const client = resolveClient(o);
          if (client === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'full mode needs --server URL (or ZETA_SERVER)');
          if (client.token === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'full mode needs --token (or ZETA_TOKEN / ZETA_TOKEN_FILE): devices are added through the API');
          if (client.caFile === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'full mode needs --ca-file (or ZETA_CA_FILE): the server and the gateway are verified against it, never against the system store');
          const attacks = o.attack === undefined ? undefined : o.attack.split(',').map((s) => s.trim()).filter((s) => s !== '');
          for (const a of attacks ?? []) if (!(FULL_ATTACK_KINDS as string[]).includes(a)) throw new ZetaError('ZETA_ERR_VALIDATION', `unknown attack ${a}; one of ${FULL_ATTACK_KINDS.join(', ')}`);
          const bars = new Map<string, ProgressBar>();
          let summary: FullSummary | undefined;
          for await (const ev of runFullSim({
            server: client.server, token: client.token, caFile: client.caFile, outDir: out, signal: ac.signal,
            devices: number(o.devices, '--devices', 10), speed: number(o.speed, '--speed', 60), warmupS: number(o.warmup, '--warmup', 20), settleS: number(o.settle, '--settle', 35),
            ...(o.mqtt === undefined ? {} : { mqtt: o.mqtt }), ...(attacks === undefined ? {} : { attacks: attacks as FullAttack[] }), ...(o.prefix === undefined ? {} : { prefix: o.prefix }),
          })) {
            if (ev.type === 'phase') process.stderr.write(`${ev.message}\n`);
            else if (ev.type === 'notice') process.stderr.write(`notice: ${ev.message}\n`);
            else if (ev.type === 'progress') {
              const bar = bars.get(ev.phase) ?? new ProgressBar(`  ${ev.phase}`);
              bars.set(ev.phase, bar);
              bar.update(ev.done, ev.total);
            } else if (ev.type === 'done') summary = ev.summary;
          }
          if (summary !== undefined) print(summary, o, fullHuman as (v: never) => string);
        } else {
          throw new ZetaError('ZETA_ERR_VALIDATION', `--mode must be scale or full, got ${o.mode}`);
        }
      } catch (e) {
        reportError(e, o);
      } finally {
        process.off('SIGINT', onSig);
      }
    });
}
