/**
 * Attestation commands: `zeta agent attest` (device side, one round or `--every`), `zeta device
 * attest <id>` (on demand), `zeta device attestations <id>` (history) and `zeta attest ref
 * add|import|list` (reference values). Operator commands work on --data or --server like the rest.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { ZetaConfig } from '../common/config.js';
import { ZetaError } from '../common/errors.js';
import { ControlPlane } from '../api/index.js';
import { attestLoop, attestOnce, parseDuration, type AttestRoundResult } from '../agent/index.js';
import { apiCall, resolveClient } from './client.js';
import { print, reportError } from './output.js';
import type { Common } from './main.js';


export interface AttestCommandHelpers {
  withCommon(cmd: Command, opts?: { remote?: boolean }): Command;
  configFrom(o: Common): ZetaConfig;
}

/** Runs against a server (--server) or the data directory, prints, and reports errors. */
function operator(h: AttestCommandHelpers, remote: (c: NonNullable<ReturnType<typeof resolveClient>>, o: Common, ...a: string[]) => Promise<unknown>, local: (cp: ControlPlane, actor: string, o: Common, ...a: string[]) => Promise<unknown>, human?: (v: never) => string) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const o = cmd.opts<Common>();
    const pos = args.slice(0, -2) as string[];
    let cp: ControlPlane | undefined;
    try {
      const client = resolveClient(o);
      let out: unknown;
      if (client !== undefined) out = await remote(client, o, ...pos);
      else {
        cp = await ControlPlane.open(h.configFrom(o));
        out = await local(cp, `cli:${process.env.SUDO_USER ?? process.env.USER ?? 'unknown'}`, o, ...pos);
      }
      print(out, o, human);
    } catch (e) {
      reportError(e, o);
    } finally {
      await cp?.close();
    }
  };
}

function roundLine(v: AttestRoundResult): string {
  return `${v.deviceId}: attestation ${v.status.toUpperCase()}${v.reason === null ? '' : ` (${v.reason})`} at ${v.at}, ${v.method === 'tpm' ? 'TPM' : 'software key (weaker)'}${v.due ? ', requested by an operator' : ''}`;
}

function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ZetaError('ZETA_ERR_VALIDATION', `${file}: cannot read JSON: ${(e as Error).message}`);
  }
}

export function registerAttestCommands(program: Command, h: AttestCommandHelpers): void {
  const find = (name: string): Command => {
    const c = program.commands.find((x) => x.name() === name);
    if (c === undefined) throw new Error(`registerAttestCommands: no '${name}' command to attach to`);
    return c;
  };

  // ---- device side ----
  find('agent').command('attest').description('one attestation round with the enrolled identity (TPM quote, or a software key if enrolled without --tpm)')
    .requiredOption('--server <url>', 'https://HOST:8443').requiredOption('--dir <dir>', 'directory from `zeta agent enroll`')
    .option('--event-log <file>', 'TCG event log to send (default DIR/eventlog.bin, else /sys/kernel/security/tpm0/binary_bios_measurements)')
    .option('--tcti <tcti>', 'TPM to use, as TPM2TOOLS_TCTI (e.g. swtpm:port=2321; default: the environment\'s)')
    .option('--every <duration>', 'keep attesting: every 90s / 15m / 24h / 1d, and at once when an operator asks')
    .option('--json')
    .action(async (o: { server: string; dir: string; eventLog?: string; tcti?: string; every?: string; json?: boolean }) => {
      const opts = { server: o.server, dir: o.dir, ...(o.eventLog === undefined ? {} : { eventLog: o.eventLog }), ...(o.tcti === undefined ? {} : { tcti: o.tcti }) };
      try {
        if (o.every === undefined) {
          const r = await attestOnce(opts);
          print(r, o, roundLine);
          return;
        }
        const everyMs = parseDuration(o.every);
        const ac = new AbortController();
        process.once('SIGINT', () => ac.abort());
        process.once('SIGTERM', () => ac.abort());
        await attestLoop({
          ...opts, everyMs, signal: ac.signal,
          onRound: (r) => {
            if (o.json === true) process.stdout.write(JSON.stringify(r) + '\n');
            else process.stdout.write(('error' in r ? `attestation round failed: ${r.error}` : roundLine(r)) + '\n');
          },
        });
      } catch (e) {
        reportError(e, o);
      }
    });

  // ---- operator side ----
  const device = find('device');
  const isReset = (o: Common): boolean => (o as { reset?: boolean }).reset === true;
  h.withCommon(device.command('attest <id>').description('request a re-attestation now: the device\'s agent attests on its next challenge'), { remote: true })
    .option('--reset', 'instead: forget its attestation key and TOFU pin (new hardware), so it can enroll again')
    .action(operator(h,
      (c, o, id = '') => apiCall(c, 'POST', `/api/v1/devices/${encodeURIComponent(id)}/attest${isReset(o) ? '/reset' : ''}`, {}),
      (cp, actor, o, id = '') => (isReset(o) ? cp.attestation.reset(id, actor) : cp.attestation.requestAttestation(id, actor)),
      (v: { deviceId: string; requestedAt?: string }) => (v.requestedAt === undefined ? `attestation of ${v.deviceId} reset: it enrolls a key again` : `re-attestation of ${v.deviceId} requested at ${v.requestedAt}`)));
  h.withCommon(device.command('attestations <id>').description('attestation history of a device, newest first'), { remote: true })
    .option('--limit <n>', 'at most N results (default 100)')
    .action(operator(h,
      (c, o, id = '') => apiCall(c, 'GET', `/api/v1/devices/${encodeURIComponent(id)}/attestations${(o as { limit?: string }).limit === undefined ? '' : `?limit=${encodeURIComponent(String((o as { limit?: string }).limit))}`}`),
      (cp, _a, o, id = '') => cp.attestation.history(id, (o as { limit?: string }).limit === undefined ? undefined : Number((o as { limit?: string }).limit)),
      (v: { deviceId: string; key: { method: string } | null; due: boolean; results: { at: string; status: string; reason: string | null; method: string }[] }) =>
        [`${v.deviceId}: key ${v.key?.method ?? 'none'}${v.due ? ', re-attestation due' : ''}`, ...v.results.map((r) => `  ${r.at}  ${r.status.padEnd(8)} ${r.method.padEnd(8)} ${r.reason ?? ''}`)].join('\n')));

  const attest = program.command('attest').description('device attestation: reference values');
  const ref = attest.command('ref').description('reference values per model and firmware version');
  h.withCommon(ref.command('add').description('register (or replace) the reference values of a model + firmware version'), { remote: true })
    .option('--file <file>', 'the reference as JSON ({ model, firmwareVersion, alg, firmware?, bootApplications?, ipl?, secureBoot? })')
    .option('--model <model>').option('--firmware <version>', 'firmware version')
    .option('--alg <alg>', 'PCR bank of the digests (sha256, sha384, sha512)', 'sha256')
    .option('--ipl <digest...>', 'allowed boot loader / kernel / initrd measurements (EV_IPL)')
    .option('--boot-app <digest...>', 'allowed EFI boot applications')
    .option('--firmware-digest <digest...>', 'allowed firmware blobs, drivers, option ROMs')
    .option('--secure-boot <on|off>', 'required Secure Boot state')
    .action(operator(h,
      (c, o) => apiCall(c, 'POST', '/api/v1/attest/references', referenceFromFlags(o)),
      (cp, actor, o) => cp.attestation.registerReference(referenceFromFlags(o), actor),
      (v: { model: string; firmwareVersion: string }) => `registered reference values for ${v.model} firmware ${v.firmwareVersion}`));
  h.withCommon(ref.command('import <file>').description('import reference values (JSON array or { references: [...] }); all or nothing'), { remote: true })
    .action(operator(h,
      (c, _o, file = '') => apiCall(c, 'POST', '/api/v1/attest/references/import', readJsonFile(file)),
      (cp, actor, _o, file = '') => cp.attestation.importReferences(readJsonFile(file), actor),
      (v: { imported: number }) => `imported ${v.imported} reference value set(s)`));
  h.withCommon(ref.command('list').description('registered, imported and TOFU reference values'), { remote: true })
    .option('--model <model>').option('--device <id>', 'TOFU pins of one device')
    .action(operator(h,
      (c, o) => {
        const x = o as { model?: string; device?: string };
        const q = new URLSearchParams({ ...(x.model === undefined ? {} : { model: x.model }), ...(x.device === undefined ? {} : { device: x.device }) }).toString();
        return apiCall(c, 'GET', `/api/v1/attest/references${q === '' ? '' : `?${q}`}`);
      },
      async (cp, _a, o) => {
        const x = o as { model?: string; device?: string };
        return { references: await cp.attestation.listReferences({ ...(x.model === undefined ? {} : { model: x.model }), ...(x.device === undefined ? {} : { deviceId: x.device }) }) };
      },
      (v: { references: { source: string; deviceId: string | null; values: { model: string; firmwareVersion: string; alg: string } }[] }) =>
        v.references.length === 0 ? 'no reference values' : v.references.map((r) => `${r.values.model.padEnd(20)} ${r.values.firmwareVersion.padEnd(12)} ${r.values.alg.padEnd(7)} ${r.source}${r.deviceId === null ? '' : ` (device ${r.deviceId})`}`).join('\n')));
}

function referenceFromFlags(o: Common): unknown {
  const x = o as Common & { file?: string; model?: string; firmware?: string; alg: string; ipl?: string[]; bootApp?: string[]; firmwareDigest?: string[]; secureBoot?: string };
  if (x.file !== undefined) return readJsonFile(x.file);
  if (x.model === undefined || x.firmware === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'give --file, or --model and --firmware with the allowed digests');
  if (x.secureBoot !== undefined && x.secureBoot !== 'on' && x.secureBoot !== 'off') throw new ZetaError('ZETA_ERR_VALIDATION', '--secure-boot: on or off');
  return {
    model: x.model, firmwareVersion: x.firmware, alg: x.alg,
    ...(x.ipl === undefined ? {} : { ipl: x.ipl.map((d) => d.toLowerCase()) }),
    ...(x.bootApp === undefined ? {} : { bootApplications: x.bootApp.map((d) => d.toLowerCase()) }),
    ...(x.firmwareDigest === undefined ? {} : { firmware: x.firmwareDigest.map((d) => d.toLowerCase()) }),
    ...(x.secureBoot === undefined ? {} : { secureBoot: { enabled: x.secureBoot === 'on' } }),
  };
}
