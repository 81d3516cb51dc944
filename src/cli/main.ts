/**
 * `zeta`: a thin command line over the components. Every command takes `--json`. Commands that
 * manage the fleet work on a data directory (`--data`) or a running server (`--server`, token).
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig, type ZetaConfig } from '../common/config.js';
import { ZetaError } from '../common/errors.js';
import { ControlPlane, startServer, startGateway } from '../api/index.js';
import { detectFormat, parseImport, DEVICE_STATES, type DeviceFilter } from '../inventory/index.js';
import { templates } from '../policy/index.js';
import { runNetd, changeFeedSubscription } from '../netd/index.js';
import { runDetect } from '../monitor/index.js';
import { enroll, renew, publishOnce, subscribe, enrollTpmAk, attestOnce } from '../agent/index.js';
import { ChangeFeed } from '../store/index.js';

import { LocalBackend, RemoteBackend, type Backend } from './backend.js';
import { resolveClient } from './client.js';
import { print, reportError, table, ProgressBar } from './output.js';
import { writeServeFiles } from './serve-files.js';
import { registerIamCommands, type CliHelpers } from './commands-iam.js';
import { registerResponseCommands } from './commands-response.js';
import { registerAttestCommands } from './commands-attest.js';
import { registerSimCommands } from './commands-sim.js';

export interface Common {
  data?: string;
  config?: string;
  json?: boolean;
  server?: string;
  token?: string;
  caFile?: string;
}

export function configFrom(o: Common, extra: Record<string, unknown> = {}): ZetaConfig {
  const flags: Record<string, unknown> = { ...extra };
  if (o.data !== undefined) flags.dataDir = o.data;
  return loadConfig({ flags, ...(o.config === undefined ? {} : { file: o.config }) });
}

async function backend(o: Common): Promise<Backend> {
  const client = resolveClient(o);
  if (client !== undefined) return new RemoteBackend(client);
  return LocalBackend.open(configFrom(o));
}

export function withCommon(cmd: Command, opts: { remote?: boolean } = {}): Command {
  cmd.option('--data <dir>', 'data directory (ZETA_DATA_DIR; default .zeta)')
    .option('--config <file>', 'config file (JSON)')
    .option('--json', 'machine-readable output');
  if (opts.remote === true) {
    cmd.option('--server <url>', 'talk to a running server instead of the data directory (ZETA_SERVER)')
      .option('--token <token>', 'API token for --server (ZETA_TOKEN, ZETA_TOKEN_FILE)')
      .option('--ca-file <file>', 'CA bundle that verifies --server (ZETA_CA_FILE)');
  }
  return cmd;
}

/** Runs an action with a backend, prints the result, reports errors with a non-zero exit. */
export function run<A extends unknown[]>(fn: (b: Backend, o: Common, ...args: A) => Promise<unknown>, human?: (v: never) => string) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const o = cmd.opts<Common>();
    let b: Backend | undefined;
    try {
      b = await backend(o);
      const out = await fn(b, o, ...(args.slice(0, -2) as A));
      if (out !== undefined) print(out, o, human);
    } catch (e) {
      reportError(e, o);
    } finally {
      await b?.close();
    }
  };
}

function deviceLine(d: Record<string, unknown>): string {
  const cert = d.certificate as { serial?: string; notAfter?: string } | null;
  return [
    `id:        ${String(d.id)}`, `name:      ${String(d.name)}`, `type:      ${String(d.type)}`,
    `state:     ${String(d.state)}`, `segment:   ${String(d.segment ?? '-')}`, `site:      ${String(d.site ?? '-')}`,
    `cert:      ${cert === null || cert === undefined ? '-' : `${cert.serial} (expires ${cert.notAfter})`}`,
    ...attestationLine(d),
    ...(d.enrollmentToken === undefined ? [] : [``, `enrollment token (shown once, expires ${String(d.tokenExpiresAt)}):`, `  ${String(d.enrollmentToken)}`]),
  ].join('\n');
}

function attestationLine(d: Record<string, unknown>): string[] {
  const a = (d.posture as { attestation?: { status: string; reason: string | null; at: string; method: string } } | undefined)?.attestation;
  if (a === undefined) return [];
  return [`attested:  ${a.status}${a.reason === null ? '' : ` (${a.reason})`} at ${a.at}, ${a.method === 'tpm' ? 'TPM' : 'software key (weaker)'}`, `trust:     ${String(d.trustScore ?? '-')}`];
}

export function buildProgram(): Command {
  const program = new Command('zeta')
    .description('Zeta: Zero Trust for IoT fleets')
    .showHelpAfterError()
    .exitOverride((err) => {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
      process.exit(2);
    });

  withCommon(program.command('init').description('create the root and issuing CAs, the audit key and the first admin API token'))
    .option('--trust-domain <name>', 'SPIFFE trust domain (default zeta.local)')
    .action(async (o: Common & { trustDomain?: string }) => {
      let cp: ControlPlane | undefined;
      try {
        const cfg = configFrom(o, o.trustDomain === undefined ? {} : { trustDomain: o.trustDomain });
        cp = await ControlPlane.open(cfg, { requireCa: false });
        const r = await cp.init();
        // The trust domain belongs to the CA: remember it beside the data.
        const cfgPath = join(cfg.dataDir, 'zeta.json');
        if (!existsSync(cfgPath)) writeFileSync(cfgPath, JSON.stringify({ trustDomain: cfg.trustDomain }, null, 2) + '\n', { mode: 0o600 });
        const caPath = join(cfg.dataDir, 'ca.pem');
        writeFileSync(caPath, cp.authority.trustBundlePem());
        print({ dataDir: cfg.dataDir, trustDomain: cfg.trustDomain, rootCaId: r.rootId, issuingCaId: r.issuingId, caBundle: caPath, rootFingerprintSha256: cp.authority.rootFingerprint, adminToken: r.adminToken }, o,
          (v: { dataDir: string; trustDomain: string; caBundle: string; adminToken: string; rootFingerprintSha256: string }) => [
            `Initialized Zeta in ${v.dataDir} (trust domain ${v.trustDomain})`,
            `CA bundle:        ${v.caBundle}`,
            `root fingerprint: ${v.rootFingerprintSha256}`,
            ``, `Admin API token (shown once; store it now):`, `  ${v.adminToken}`,
          ].join('\n'));
      } catch (e) {
        reportError(e, o);
      } finally {
        await cp?.close();
      }
    });

  withCommon(program.command('serve').description('run the control plane: HTTPS API + EST, HTTP CRL + OCSP'))
    .option('--bind <addr>', 'bind address (ZETA_BIND_ADDRESS)')
    .option('--api-port <port>', 'HTTPS port (ZETA_API_PORT, default 8443)')
    .option('--pki-port <port>', 'HTTP port for CRL and OCSP (ZETA_PKI_HTTP_PORT, default 8080)')
    .option('--public-host <name>', 'host name devices use to reach this server (ZETA_PUBLIC_HOST)')
    .action(async (o: Common & { bind?: string; apiPort?: string; pkiPort?: string; publicHost?: string }) => {
      try {
        const cfg = configFrom(o, {
          ...(o.bind === undefined ? {} : { bindAddress: o.bind }),
          ...(o.apiPort === undefined ? {} : { apiPort: o.apiPort }),
          ...(o.pkiPort === undefined ? {} : { pkiHttpPort: o.pkiPort }),
          ...(o.publicHost === undefined ? {} : { publicHost: o.publicHost }),
        });
        const cp = await ControlPlane.open(cfg);
        const files = writeServeFiles(cp);
        const h = await startServer(cp, { caBundlePath: files.caBundlePath, tls: files.tls, logLevel: cfg.logLevel === 'info' ? 'warn' : cfg.logLevel });
        print({ api: h.apiUrl, est: `${h.apiUrl}/.well-known/est`, pki: h.pkiUrl, ocsp: `${h.pkiUrl}/ocsp`, mqtt: h.gateway?.url ?? null, caBundle: h.caBundlePath, dataDir: cfg.dataDir }, o,
          (v: { api: string; est: string; pki: string; ocsp: string; mqtt: string | null; caBundle: string }) => [
            `Zeta is serving`, `  API (HTTPS):   ${v.api}/api/v1`, `  EST:           ${v.est}`, `  CRL/OCSP:      ${v.pki}  (OCSP ${v.ocsp})`,
            `  MQTT gateway:  ${v.mqtt ?? 'off'}${v.mqtt === null ? '' : ` (upstream: ${cfg.gatewayUpstream})`}`, `  CA bundle:     ${v.caBundle}`,
          ].join('\n'));
        const stop = async (): Promise<void> => {
          await h.close();
          await cp.close();
          process.exit(0);
        };
        process.once('SIGINT', () => void stop());
        process.once('SIGTERM', () => void stop());
      } catch (e) {
        reportError(e, o);
      }
    });

  withCommon(program.command('gateway').description('run a standalone MQTT gateway in front of an external broker (several may front one broker)'))
    .requiredOption('--upstream <url>', 'the broker: mqtt://host:port or mqtts://host:port (keep it unreachable for devices)')
    .option('--bind <addr>', 'bind address (ZETA_BIND_ADDRESS)')
    .option('--port <port>', 'MQTT over TLS port (ZETA_MQTT_PORT, default 8883)')
    .addOption(new Option('--duplicate-identity <mode>', 'a second connection with the same identity').choices(['replace', 'refuse']).default('replace'))
    .action(async (o: Common & { upstream: string; bind?: string; port?: string; duplicateIdentity: 'replace' | 'refuse' }) => {
      try {
        const cfg = configFrom(o, { gatewayUpstream: o.upstream, ...(o.bind === undefined ? {} : { bindAddress: o.bind }), ...(o.port === undefined ? {} : { mqttPort: o.port }) });
        const cp = await ControlPlane.open(cfg);
        const feed = new ChangeFeed(cp.store, cfg.changeFeedIntervalMs);
        await feed.start();
        const g = await startGateway(cp, feed, { port: cfg.mqttPort, host: cfg.bindAddress, upstream: cfg.gatewayUpstream, duplicateIdentity: o.duplicateIdentity });
        print({ mqtt: g.url, upstream: cfg.gatewayUpstream, dataDir: cfg.dataDir }, o, (v: { mqtt: string; upstream: string }) => `Zeta gateway listening on ${v.mqtt}, forwarding to ${v.upstream}`);
        const stop = async (): Promise<void> => { feed.stop(); await g.close(); await cp.close(); process.exit(0); };
        process.once('SIGINT', () => void stop());
        process.once('SIGTERM', () => void stop());
      } catch (e) {
        reportError(e, o);
      }
    });

  const device = program.command('device').description('manage devices');
  withCommon(device.command('add').description('add a device; prints its one-time enrollment token'), { remote: true })
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--type <type>', 'camera, thermostat, lock, plc, sensor, gateway, or another')
    .option('--id <id>', 'device id (default: generated)')
    .option('--segment <segment>').option('--site <site>').option('--vendor <vendor>').option('--model <model>')
    .option('--firmware <version>').option('--owner <owner>').option('--tag <tag...>', 'tags')
    .action(run(async (b, o) => {
      const x = o as Common & Record<string, unknown>;
      const input: Record<string, unknown> = {};
      for (const k of ['id', 'name', 'type', 'segment', 'site', 'vendor', 'model', 'firmware', 'owner'] as const) if (x[k] !== undefined) input[k] = x[k];
      if (x.tag !== undefined) input.tags = x.tag;
      return b.addDevice(input);
    }, deviceLine));

  withCommon(device.command('list').description('list devices'), { remote: true })
    .option('--type <type>').option('--segment <segment>').option('--site <site>')
    .addOption(new Option('--state <state>').choices([...DEVICE_STATES]))
    .option('--expiring <days>', 'certificate expires within N days')
    .option('--search <text>', 'id or name contains')
    .option('--limit <n>', 'at most N (default 100)').option('--offset <n>')
    .action(run(async (b, o) => {
      const x = o as Common & Record<string, string | undefined>;
      const f: DeviceFilter = {};
      if (x.type !== undefined) f.type = x.type;
      if (x.segment !== undefined) f.segment = x.segment;
      if (x.site !== undefined) f.site = x.site;
      if (x.state !== undefined) f.state = x.state as DeviceFilter['state'] & string;
      if (x.expiring !== undefined) f.expiringWithinDays = num(x.expiring, '--expiring');
      if (x.search !== undefined) f.q = x.search;
      if (x.limit !== undefined) f.limit = num(x.limit, '--limit');
      if (x.offset !== undefined) f.offset = num(x.offset, '--offset');
      return b.listDevices(f);
    }, (v: { devices: Record<string, unknown>[]; total: number }) =>
      `${table(v.devices.map((d) => ({ ...d, expires: (d.certificate as { notAfter?: string } | null)?.notAfter?.slice(0, 10) })), ['id', 'name', 'type', 'state', 'segment', 'expires'])}\n(${v.devices.length} of ${v.total})`));

  withCommon(device.command('show <id>').description('show one device'), { remote: true })
    .action(run(async (b, _o, id: string) => b.getDevice(id), deviceLine));

  withCommon(device.command('update <id>').description('change device attributes'), { remote: true })
    .option('--name <name>').option('--type <type>').option('--segment <segment>').option('--site <site>').option('--vendor <vendor>')
    .option('--model <model>').option('--firmware <version>').option('--owner <owner>').option('--tag <tag...>')
    .action(run(async (b, o, id: string) => {
      const x = o as Common & Record<string, unknown>;
      const patch: Record<string, unknown> = {};
      for (const k of ['name', 'type', 'segment', 'site', 'vendor', 'model', 'firmware', 'owner'] as const) if (x[k] !== undefined) patch[k] = x[k];
      if (x.tag !== undefined) patch.tags = x.tag;
      if (Object.keys(patch).length === 0) throw new ZetaError('ZETA_ERR_VALIDATION', 'nothing to update: pass at least one of --name, --type, --segment, --site, ...');
      return b.updateDevice(id, patch);
    }, deviceLine));

  for (const op of ['suspend', 'resume', 'quarantine', 'decommission'] as const) {
    const c = withCommon(device.command(`${op} <id>`).description(`${op} a device`), { remote: true });
    if (op === 'suspend' || op === 'quarantine') c.option('--reason <text>', 'why (goes into the audit log)');
    c.action(run(async (b, o, id: string) => b.lifecycle(id, op, (o as { reason?: string }).reason), deviceLine));
  }

  withCommon(device.command('revoke <id>').description('revoke every certificate of a device (CRL and OCSP at once)'), { remote: true })
    .requiredOption('--reason <reason>', 'RFC 5280 reason: keyCompromise, superseded, cessationOfOperation, affiliationChanged, privilegeWithdrawn, unspecified, ...')
    .action(run(async (b, o, id: string) => b.revoke(id, (o as { reason: string }).reason),
      (v: { device: Record<string, unknown>; revokedSerials: string[] }) => `${deviceLine(v.device)}\nrevoked certificates: ${v.revokedSerials.join(', ') || '(none)'}`));

  withCommon(device.command('token <id>').description('issue a new one-time enrollment token (earlier unused ones stop working)'), { remote: true })
    .action(run(async (b, _o, id: string) => b.newToken(id)));

  withCommon(device.command('import <file>').description('bulk import a fleet from CSV, JSON or JSON lines (all or nothing)'), { remote: true })
    .requiredOption('--tokens-out <file>', 'where to write the enrollment tokens (JSON lines, mode 0600; must not exist)')
    .addOption(new Option('--format <format>').choices(['csv', 'json', 'jsonl']))
    .action(run(async (b, o, file: string) => {
      const x = o as Common & { tokensOut: string; format?: 'csv' | 'json' | 'jsonl' };
      if (existsSync(x.tokensOut)) throw new ZetaError('ZETA_ERR_CONFLICT', `${x.tokensOut} already exists; tokens are never overwritten`);
      const text = readFileSync(file, 'utf8');
      const records = parseImport(text, x.format ?? detectFormat(file, text));
      const bar = new ProgressBar('importing', x.json === true);
      const t0 = Date.now();
      const r = await b.importDevices(records, (d, t) => bar.update(d, t));
      writeFileSync(x.tokensOut, r.tokens.map((t) => JSON.stringify({ id: t.id, enrollmentToken: t.enrollmentToken, expiresAt: r.tokenExpiresAt })).join('\n') + '\n', { mode: 0o600, flag: 'wx' });
      return { imported: r.imported, tokensFile: x.tokensOut, seconds: (Date.now() - t0) / 1000 };
    }, (v: { imported: number; tokensFile: string; seconds: number }) => `imported ${v.imported} devices in ${v.seconds.toFixed(1)} s; enrollment tokens in ${v.tokensFile}`));

  const policy = program.command('policy').description('Cedar policies: apply, check, what-if, analyze, shadow');
  withCommon(policy.command('apply <file>').description('validate a Cedar policy set against the Zeta schema and enforce it (nothing applied if invalid)'), { remote: true })
    .option('--comment <text>', 'why (goes into the audit log)')
    .action(run(async (b, o, file: string) => b.policyApply(readFileSync(file, 'utf8'), (o as { comment?: string }).comment),
      (v: { version: number; policies: number; diff: { added: string[]; removed: string[]; changed: string[] } }) =>
        `applied policy version ${v.version} (${v.policies} policies): +${v.diff.added.length} added, -${v.diff.removed.length} removed, ~${v.diff.changed.length} changed`));
  withCommon(policy.command('check').description('decide one MQTT request for a device, with the determining policies'), { remote: true })
    .requiredOption('--device <id>')
    .addOption(new Option('--action <action>').choices(['connect', 'publish', 'subscribe', 'receive']).makeOptionMandatory())
    .option('--topic <topic>', 'topic or subscription filter')
    .action(run(async (b, o) => {
      const x = o as Common & { device: string; action: string; topic?: string };
      return b.policyCheck(x.device, x.action, x.topic);
    }, (v: { decision: string; reasons: string[]; errors: string[]; policyVersion: number | null }) =>
      `${v.decision.toUpperCase()} (policy version ${v.policyVersion ?? '-'})${v.reasons.length > 0 ? `, by ${v.reasons.join(', ')}` : ''}${v.errors.length > 0 ? `\nerrors: ${v.errors.join('; ')}` : ''}`));
  withCommon(policy.command('diff <file>').description('what-if: evaluate the whole fleet against a proposed set without applying it'), { remote: true })
    .action(run(async (b, _o, file: string) => b.policyWhatIf(readFileSync(file, 'utf8')),
      (v: { devices: number; requests: number; gained: unknown[]; lost: unknown[]; summary: { change: string; action: string; pattern: string; devices: number }[] }) =>
        [`what-if over ${v.devices} devices (${v.requests} requests): ${v.gained.length} gained, ${v.lost.length} lost`,
          ...v.summary.map((x) => `  ${x.change === 'gain' ? '+' : '-'} ${x.action.padEnd(9)} ${x.pattern.padEnd(28)} ${x.devices} device(s)`)].join('\n')));
  withCommon(policy.command('show').description('the enforced policy set'), { remote: true })
    .action(run(async (b) => b.policyShow(), (v: { active: { version: number; text: string } | null }) => (v.active === null ? 'no policy set' : `# version ${v.active.version}\n${v.active.text}`)));
  withCommon(policy.command('history').description('every policy version'), { remote: true }).action(run(async (b) => b.policyHistory()));
  withCommon(policy.command('analyze').description('audit checks: overly broad or shadowed policies'), { remote: true })
    .action(run(async (b) => {
      const r = await b.policyAnalysis() as { findings: unknown[] };
      if (r.findings.length > 0) process.exitCode = 3;
      return r;
    }, (v: { version: number | null; findings: { policy: string; kind: string; severity: string; message: string }[] }) =>
      v.findings.length === 0 ? `policy version ${v.version ?? '-'}: no findings` : v.findings.map((f) => `[${f.severity}] ${f.policy}: ${f.kind}: ${f.message}`).join('\n')));
  withCommon(policy.command('shadow [file]').description('run a proposed set beside the enforced one and log disagreements'), { remote: true })
    .option('--clear', 'stop shadow evaluation')
    .action(run(async (b, o, file?: string) => {
      if ((o as { clear?: boolean }).clear === true) return b.policyShadow(null);
      if (file === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'give a policy file, or --clear');
      return b.policyShadow(readFileSync(file, 'utf8'));
    }));
  policy.command('templates').description('print the shipped least-privilege policy templates').option('--type <type>', 'one template (base, camera, thermostat, lock, plc, sensor)').option('--json')
    .action((o: { type?: string; json?: boolean }) => {
      const t = templates();
      if (o.type !== undefined && t[o.type] === undefined) { reportError(new ZetaError('ZETA_ERR_NOT_FOUND', `no template ${o.type}; have ${Object.keys(t).join(', ')}`), o); return; }
      const pick = o.type === undefined ? t : { [o.type]: t[o.type]! };
      print(pick, o, (v: Record<string, string>) => Object.entries(v).map(([k, x]) => `// ---- ${k}\n${x}`).join('\n'));
    });

  const segment = program.command('segment').description('segments, services and flows: compiled to the gateway and to nftables');
  withCommon(segment.command('list').description('segments, services and flows'), { remote: true }).action(run(async (b) => b.segmentsList()));
  withCommon(segment.command('add <name>').description('add a segment'), { remote: true })
    .addOption(new Option('--kind <kind>', 'what groups it').choices(['type', 'function', 'site', 'sensitivity']).default('function'))
    .option('--description <text>')
    .action(run(async (b, o, name: string) => {
      const x = o as { kind: string; description?: string };
      return b.segmentAdd({ name, kind: x.kind, ...(x.description === undefined ? {} : { description: x.description }) });
    }));
  withCommon(segment.command('rm <name>').description('remove a segment (refused while in use)'), { remote: true })
    .action(run(async (b, _o, name: string) => { await b.segmentRemove(name); return { removed: name }; }));
  withCommon(segment.command('service <name>').description('add a named service flows can reach'), { remote: true })
    .requiredOption('--address <cidr...>', 'addresses or prefixes').option('--protocol <p>', 'tcp, udp, icmp or any').option('--port <ports...>', 'ports or ranges (554, 8000-8010)')
    .option('--role <role>', 'e.g. remediation').option('--description <text>')
    .action(run(async (b, o, name: string) => {
      const x = o as { address: string[]; protocol?: string; port?: string[]; role?: string; description?: string };
      return b.serviceAdd({ name, addresses: x.address, ...(x.protocol === undefined ? {} : { protocol: x.protocol }), ...(x.port === undefined ? {} : { ports: x.port }), ...(x.role === undefined ? {} : { role: x.role }), ...(x.description === undefined ? {} : { description: x.description }) });
    }));
  withCommon(segment.command('allow').description('allow a flow from a segment to a segment or service (all else is denied)'), { remote: true })
    .requiredOption('--from <segment>').option('--to <segment>').option('--to-service <service>')
    .option('--protocol <p>').option('--port <ports...>').option('--mqtt-topic-prefix <prefix>', 'MQTT topic prefix this flow opens at the gateway')
    .addOption(new Option('--direction <d>').choices(['one-way', 'both']).default('one-way')).option('--id <id>').option('--description <text>')
    .action(run(async (b, o) => {
      const x = o as { from: string; to?: string; toService?: string; protocol?: string; port?: string[]; mqttTopicPrefix?: string; direction: string; id?: string; description?: string };
      const input: Record<string, unknown> = { from: x.from, direction: x.direction };
      if (x.to !== undefined) input.toSegment = x.to;
      if (x.toService !== undefined) input.toService = x.toService;
      if (x.protocol !== undefined) input.protocol = x.protocol;
      if (x.port !== undefined) input.ports = x.port;
      if (x.mqttTopicPrefix !== undefined) input.mqttTopicPrefix = x.mqttTopicPrefix;
      if (x.id !== undefined) input.id = x.id;
      if (x.description !== undefined) input.description = x.description;
      return b.flowAdd(input);
    }));
  withCommon(segment.command('disallow <flowId>').description('remove a flow'), { remote: true })
    .action(run(async (b, _o, fid: string) => { await b.flowRemove(fid); return { removed: fid }; }));
  withCommon(segment.command('addresses <device> <address...>').description("set a device's IP addresses (for netd's sets)"), { remote: true })
    .action(run(async (b, _o, dev: string, addrs: string[]) => b.deviceAddresses(dev, addrs)));
  withCommon(segment.command('mud <file>').description("import a device type's allowed flows from a MUD file (RFC 8520)"), { remote: true })
    .requiredOption('--segment <segment>', 'the segment the devices live in').option('--type <type>', 'device type the flows apply to')
    .option('--local-networks <segment>', 'segment that stands for local-networks')
    .action(run(async (b, o, file: string) => {
      const x = o as { segment: string; type?: string; localNetworks?: string };
      return b.mudImport(readFileSync(file, 'utf8'), { segment: x.segment, ...(x.type === undefined ? {} : { deviceType: x.type }), ...(x.localNetworks === undefined ? {} : { localNetworks: { segment: x.localNetworks } }) });
    }));

  withCommon(program.command('netd').description('keep the nftables ruleset (table inet zeta) of this Linux gateway in step with segments and flows'))
    .option('--netns <name>', 'apply inside this network namespace')
    .option('--remove-on-exit', 'remove the table on exit (development only: ends enforcement)')
    .action(async (o: Common & { netns?: string; removeOnExit?: boolean }) => {
      try {
        const cfg = configFrom(o);
        const cp = await ControlPlane.open(cfg, { requireCa: false });
        const feed = new ChangeFeed(cp.store, cfg.changeFeedIntervalMs);
        await feed.start();
        const ac = new AbortController();
        process.once('SIGINT', () => ac.abort());
        process.once('SIGTERM', () => ac.abort());
        const running = await runNetd({
          snapshot: () => cp.segments.snapshot(), changes: changeFeedSubscription(feed), signal: ac.signal,
          ...(o.netns === undefined ? {} : { netns: o.netns }), ...(o.removeOnExit === true ? { removeOnExit: true } : {}),
        });
        print({ netd: 'running', first: running.first }, o, () => `netd applied table inet zeta (${JSON.stringify(running.first).slice(0, 120)}); watching for changes`);
        await running.done;
        feed.stop();
        await cp.close();
      } catch (e) {
        reportError(e, o);
      }
    });

  program.command('detect').description('replay captured signals through the live detectors: one JSON line of score (and alert) per input record')
    .requiredOption('--input <file>', 'Zeek conn.log (JSON lines or TSV), telemetry (JSON lines or CSV), or gateway events (JSON lines)')
    .addOption(new Option('--format <format>').choices(['zeek-conn', 'telemetry', 'gateway']).makeOptionMandatory())
    .requiredOption('--out <file>', 'where to write the JSON lines')
    .option('--warmup <n>', 'records used only to learn (no alerts among them)')
    .option('--inventory <file>', 'devices and segments, for cohorts and cross-segment rules')
    .option('--json', 'print the summary as JSON')
    .action(async (o: { input: string; format: 'zeek-conn' | 'telemetry' | 'gateway'; out: string; warmup?: string; inventory?: string; json?: boolean }) => {
      try {
        const t0 = Date.now();
        const r = await runDetect({ input: o.input, format: o.format, out: o.out, ...(o.warmup === undefined ? {} : { warmup: num(o.warmup, '--warmup') }), ...(o.inventory === undefined ? {} : { inventory: o.inventory }) });
        print({ ...r, seconds: (Date.now() - t0) / 1000, out: o.out }, o, (v: { records: number; alerts: number; malformed: number; seconds: number; out: string }) =>
          `scored ${v.records} records in ${v.seconds.toFixed(1)} s: ${v.alerts} alert(s), ${v.malformed} malformed line(s); results in ${v.out}`);
      } catch (e) {
        reportError(e, o);
      }
    });

  const audit = program.command('audit').description('the tamper-evident audit log');
  withCommon(audit.command('verify').description('check the hash chain and the signed checkpoints; says which entry is wrong'), { remote: true })
    .action(run(async (b) => {
      const r = await b.auditVerify();
      if (!r.ok) process.exitCode = 3;
      return r;
    }, (v: { ok: boolean; entries: number; checkpoints: number; problems: { seq: number; kind: string; message: string }[] }) =>
      v.ok ? `audit log OK: ${v.entries} entries, ${v.checkpoints} signed checkpoints` : `AUDIT LOG TAMPERED:\n${v.problems.map((p) => `  [${p.kind}] ${p.message}`).join('\n')}`));

  withCommon(audit.command('export').description('export the audit log'), { remote: true })
    .addOption(new Option('--format <format>').choices(['jsonl']).default('jsonl'))
    .option('--out <file>', 'write to a file instead of stdout')
    .action(run(async (b, o) => {
      const x = o as Common & { out?: string };
      const lines: string[] = [];
      const n = await b.auditExport((l) => {
        if (x.out === undefined) process.stdout.write(l + '\n');
        else lines.push(l);
      });
      if (x.out !== undefined) {
        writeFileSync(x.out, lines.join('\n') + (lines.length > 0 ? '\n' : ''));
        return { exported: n, file: x.out };
      }
      return undefined;
    }));

  const token = program.command('token').description('API tokens');
  withCommon(token.command('list').description('list API tokens'), { remote: true }).action(run(async (b) => b.listApiTokens()));
  withCommon(token.command('revoke <id>').description('revoke an API token'), { remote: true })
    .action(run(async (b, _o, id: string) => { await b.revokeApiToken(id); return { revoked: id }; }));

  registerIamCommands(program, { withCommon, run: run as CliHelpers['run'] });

  const ca = program.command('ca').description('certificate authorities');
  withCommon(ca.command('show').description('show the CAs'), { remote: true }).action(run(async (b) => b.caInfo()));
  withCommon(ca.command('rotate').description('rotate the issuing CA; the old one keeps verifying until its certificates expire'), { remote: true })
    .action(run(async (b) => b.caRotate()));

  const agent = program.command('agent').description('the device side: enrollment and renewal');
  agent.command('enroll').description('make a key, enroll over EST, write key.pem, cert.pem and ca.pem')
    .requiredOption('--server <url>', 'https://HOST:8443').requiredOption('--device <id>').requiredOption('--token <token>')
    .requiredOption('--out <dir>').option('--ca-file <file>', 'trust anchor (default: the CA pin inside the token)')
    .addOption(new Option('--key-type <type>').choices(['p256', 'p384', 'ed25519']).default('p256'))
    .option('--tpm', 'also enroll a TPM attestation key: EK certificate check, credential activation, first attestation')
    .option('--ek-cert <file>', 'with --tpm: the EK certificate (PEM/DER) if the TPM\'s NV has none')
    .option('--ek-chain <file>', 'with --tpm: intermediate CA certificates (PEM bundle) between the EK certificate and the manufacturer root')
    .option('--tcti <tcti>', 'with --tpm: the TPM, as TPM2TOOLS_TCTI (e.g. swtpm:port=2321)')
    .option('--event-log <file>', 'with --tpm: the TCG event log for the first attestation')
    .option('--json')
    .action(async (o: { server: string; device: string; token: string; out: string; caFile?: string; keyType: 'p256' | 'p384' | 'ed25519'; tpm?: boolean; ekCert?: string; ekChain?: string; tcti?: string; eventLog?: string; json?: boolean }) => {
      try {
        const e = await enroll({ server: o.server, deviceId: o.device, token: o.token, outDir: o.out, keyType: o.keyType, ...(o.caFile === undefined ? {} : { caFile: o.caFile }) });
        let r: typeof e & { attestation?: unknown } = e;
        if (o.tpm === true) {
          const t = { server: o.server, dir: o.out, ...(o.tcti === undefined ? {} : { tcti: o.tcti }), ...(o.eventLog === undefined ? {} : { eventLog: o.eventLog }) };
          const ak = await enrollTpmAk({ ...t, ...(o.ekCert === undefined ? {} : { ekCert: o.ekCert }), ...(o.ekChain === undefined ? {} : { ekChain: o.ekChain }) });
          // The attestation made at enrollment is the one TOFU pins (when there is a log to send).
          const first = await attestOnce(t).catch((err: unknown) => ({ error: (err as Error).message }));
          r = { ...e, attestation: { akName: ak.akName, ekName: ak.ekName, ekTrust: ak.ekTrust, first } };
        }
        print(r, o, (v: typeof r) => `enrolled ${v.spiffeId}\n  certificate ${v.serial}, expires ${v.notAfter}\n  files in ${v.dir}: key.pem cert.pem ca.pem${v.attestation === undefined ? '' : `\n  TPM attestation key bound: ${JSON.stringify(v.attestation)}`}`);
      } catch (e) {
        reportError(e, o);
      }
    });
  agent.command('renew').description('renew the certificate over EST (mTLS with the current one) when due')
    .requiredOption('--server <url>').requiredOption('--dir <dir>')
    .option('--force', 'renew even if not due').option('--same-key', 'keep the current key').option('--json')
    .action(async (o: { server: string; dir: string; force?: boolean; sameKey?: boolean; json?: boolean }) => {
      try {
        const r = await renew({ server: o.server, dir: o.dir, ...(o.force === true ? { force: true } : {}), ...(o.sameKey === true ? { sameKey: true } : {}) });
        print(r, o, (v: typeof r) => (v.renewed ? `renewed: certificate ${v.serial}, expires ${v.notAfter}` : v.reason));
      } catch (e) {
        reportError(e, o);
      }
    });

  agent.command('publish').description('publish one message through the gateway with the enrolled identity')
    .requiredOption('--server <url>', 'mqtts://HOST:8883').requiredOption('--dir <dir>', 'directory from `zeta agent enroll`')
    .requiredOption('--topic <topic>').requiredOption('--message <text>')
    .addOption(new Option('--qos <qos>').choices(['0', '1']).default('1'))
    .addOption(new Option('--mqtt-version <v>').choices(['3.1.1', '5']).default('3.1.1'))
    .option('--json')
    .action(async (o: { server: string; dir: string; topic: string; message: string; qos: '0' | '1'; mqttVersion: '3.1.1' | '5'; json?: boolean }) => {
      try {
        const r = await publishOnce({ server: o.server, dir: o.dir, topic: o.topic, message: o.message, qos: o.qos === '0' ? 0 : 1, protocolVersion: o.mqttVersion === '5' ? 5 : 4 });
        print({ published: true, ...r }, o, (v: typeof r) => `published to ${v.topic} as ${v.deviceId}`);
      } catch (e) {
        reportError(e, o);
      }
    });
  agent.command('subscribe').description('subscribe through the gateway and print messages (one JSON line each with --json)')
    .requiredOption('--server <url>').requiredOption('--dir <dir>').requiredOption('--topic <filter>')
    .option('--count <n>', 'exit after N messages')
    .addOption(new Option('--mqtt-version <v>').choices(['3.1.1', '5']).default('3.1.1'))
    .option('--json')
    .action(async (o: { server: string; dir: string; topic: string; count?: string; mqttVersion: '3.1.1' | '5'; json?: boolean }) => {
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      try {
        await subscribe({
          server: o.server, dir: o.dir, filter: o.topic, signal: ac.signal, protocolVersion: o.mqttVersion === '5' ? 5 : 4,
          ...(o.count === undefined ? {} : { count: num(o.count, '--count') }),
          onMessage: (topic, payload) => {
            if (o.json === true) process.stdout.write(JSON.stringify({ topic, payload: payload.toString('utf8') }) + '\n');
            else process.stdout.write(`${topic} ${payload.toString('utf8')}\n`);
          },
        });
      } catch (e) {
        reportError(e, o);
      }
    });

  registerResponseCommands(program, { withCommon, configFrom });
  registerAttestCommands(program, { withCommon, configFrom });
  registerSimCommands(program);
  return program;
}

function num(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ZetaError('ZETA_ERR_VALIDATION', `${flag} must be a non-negative integer, got ${v}`);
  return n;
}

await buildProgram().parseAsync(process.argv);
