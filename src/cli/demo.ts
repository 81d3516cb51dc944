/**
 * `npm start`: the demo on embedded defaults. A temporary data directory, a CA, the server, a few
 * simulated devices that make keys and enroll over EST, one revoked, and the OCSP responder saying
 * so — narrated. `--keep` leaves the server running afterwards so you can poke at it.
 */
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { makeConfig } from '../common/config.js';
import { ControlPlane, startServer } from '../api/index.js';
import { enroll, checkOcsp, connectDevice, attestOnce, demoTamperedFirmware } from '../agent/index.js';
import { encodeEventLog, TPM_ALG } from '../attest/index.js';
import { runFullSim } from '../sim/index.js';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { MqttClient } from 'mqtt';
import { writeServeFiles } from './serve-files.js';

const keep = process.argv.includes('--keep');
const color = process.stdout.isTTY === true;
const c = (code: number, s: string): string => (color ? `\u001b[${code}m${s}\u001b[0m` : s);
const step = (n: number, s: string): void => console.log(`\n${c(1, `[${n}]`)} ${c(1, s)}`);
const info = (s: string): void => console.log(`    ${s}`);

async function freePort(preferred: number): Promise<number> {
  const tryPort = (p: number): Promise<number> => new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(p, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
  return tryPort(preferred).catch(() => tryPort(0));
}

const FLEET = [
  { name: 'lobby camera', type: 'camera', segment: 'cameras', keyType: 'p256' as const },
  { name: 'floor 3 thermostat', type: 'thermostat', segment: 'building', keyType: 'p256' as const },
  { name: 'server room lock', type: 'lock', segment: 'access', keyType: 'ed25519' as const },
  { name: 'press line PLC', type: 'plc', segment: 'ot', keyType: 'p384' as const },
  { name: 'warehouse sensor', type: 'sensor', segment: 'building', keyType: 'p256' as const },
];

/** Waits (up to 15 s) for the playbooks to act on these devices, then shows state, trust and actions. */
async function showResponse(cp: ControlPlane, ids: string[], trustBefore?: number | null): Promise<void> {
  for (const id of ids) {
    const deadline = Date.now() + 15_000;
    let d = await cp.inventory.get(id);
    while (d.state !== 'quarantined' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      d = await cp.inventory.get(id);
    }
    const actions = await cp.store.db.selectFrom('response_actions').select(['action', 'status', 'step', 'reason']).where('device_id', '=', id).orderBy('ts').execute();
    const trust = trustBefore === undefined ? `${d.trustScore ?? '-'}` : `${trustBefore ?? '-'} → ${d.trustScore ?? '-'}`;
    info(`${d.state === 'quarantined' ? c(32, '✔') : c(31, '✘')} ${id}: state ${d.state}, trust ${trust}`);
    for (const a of actions) info(`    response: ${a.action} (${a.status}) by playbook step ${a.step} — ${a.reason}`.slice(0, 170));
  }
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'zeta-demo-'));
  console.log(c(1, 'Zeta demo: device identity from enrollment to revocation'));
  info(`data directory: ${dataDir} (SQLite, removed at the end${keep ? ' — kept with --keep' : ''})`);

  step(1, 'zeta init: a root CA and an issuing CA (ECDSA P-256), the audit key, the first admin token');
  const config = makeConfig({ dataDir, apiPort: await freePort(8443), pkiHttpPort: await freePort(8080), mqttPort: await freePort(8883), logLevel: 'silent' });
  const cp = await ControlPlane.open(config, { requireCa: false });
  const init = await cp.init('demo');
  info(`root CA ${init.rootId}, issuing CA ${init.issuingId}, trust domain ${config.trustDomain}`);
  info(`root fingerprint (SHA-256) ${cp.authority.rootFingerprint ?? ''}`);
  info(`admin API token (shown once): ${init.adminToken.slice(0, 12)}…`);

  step(2, 'zeta serve: HTTPS API + EST, HTTP CRL + OCSP');
  const files = writeServeFiles(cp);
  const h = await startServer(cp, { caBundlePath: files.caBundlePath, tls: files.tls, logLevel: 'silent' });
  const api = h.apiUrl.replace('127.0.0.1', 'localhost');
  info(`API  ${api}/api/v1   EST ${api}/.well-known/est`);
  info(`OCSP ${h.pkiUrl}/ocsp   CA bundle ${files.caBundlePath}`);
  info(`MQTT ${h.gateway?.url ?? '(off)'} — the gateway: mTLS, every packet decided by the Cedar policy (version ${h.pdp.activeVersion ?? '-'})`);
  // A demo operator for the dashboard: the password is random per run; TOTP is the second factor.
  const demoPassword = randomBytes(12).toString('base64url');
  const demoOp = await cp.iam.operators.create({ username: 'demo', role: 'admin', password: demoPassword }, 'demo');
  const demoTotp = await cp.iam.operators.provisionTotp(demoOp.id, 'demo');
  info(`Dashboard ${api}/  user demo, password ${demoPassword}, TOTP secret ${demoTotp.secret}`);
  info(`  (add the secret to an authenticator app; run with --keep to leave the server up and watch; build it once with npm run build:web)`);
  // On a desktop, open it so the attack and the quarantine below can be watched live.
  if (process.stdout.isTTY === true && (process.env.DISPLAY !== undefined || process.env.WAYLAND_DISPLAY !== undefined)) {
    spawn('xdg-open', [`${api}/`], { stdio: 'ignore', detached: true }).on('error', () => undefined).unref();
  }

  step(3, `an operator registers ${FLEET.length} devices; each gets a one-time enrollment token`);
  const devices = [];
  for (const d of FLEET) {
    const r = await cp.inventory.add({ name: d.name, type: d.type, segment: d.segment }, 'operator:demo');
    devices.push({ ...d, id: r.device.id, token: r.enrollmentToken });
    info(`${r.device.id.padEnd(24)} ${d.type.padEnd(11)} segment ${d.segment.padEnd(9)} token ${r.enrollmentToken.slice(0, 10)}…`);
  }

  step(4, 'each device makes its own key, checks the server against the CA pin in its token, and enrolls over EST');
  const enrolled = [];
  for (const d of devices) {
    const out = join(dataDir, 'devices', d.id);
    const t0 = performance.now();
    const r = await enroll({ server: api, deviceId: d.id, token: d.token, outDir: out, keyType: d.keyType });
    enrolled.push({ ...d, ...r });
    info(`${c(32, '✔')} ${r.spiffeId.padEnd(46)} ${d.keyType.padEnd(7)} serial ${r.serial.slice(0, 12)}… ${(performance.now() - t0).toFixed(0)} ms`);
  }

  step(5, 'an attacker replays a used token — refused, and audited');
  const victim = devices[0]!;
  try {
    await enroll({ server: api, deviceId: victim.id, token: victim.token, outDir: join(dataDir, 'attacker'), keyType: 'p256' });
    info(c(31, 'unexpectedly accepted'));
  } catch (e) {
    info(`${c(33, '✘')} ${(e as Error).message}`);
  }

  step(6, 'devices connect through the MQTT gateway with their certificates and publish telemetry');
  const mqttUrl = (h.gateway?.url ?? '').replace('127.0.0.1', 'localhost');
  const clients = new Map<string, MqttClient>();
  for (const d of enrolled) {
    const { client } = await connectDevice({ server: mqttUrl, dir: d.dir });
    clients.set(d.id, client);
    // What each type's template lets it publish: cameras and locks report status, the rest telemetry.
    const kind = d.type === 'camera' || d.type === 'lock' ? 'status' : 'telemetry';
    const acked = await Promise.race([
      client.publishAsync(`devices/${d.id}/${kind}`, JSON.stringify({ ok: true, t: Date.now() }), { qos: 1 }).then(() => true),
      new Promise<boolean>((r) => { client.once('close', () => r(false)); setTimeout(() => r(false), 3000); }),
    ]);
    info(`${acked ? c(32, '✔') : c(31, '✘')} ${d.id.padEnd(24)} published devices/${d.id}/${kind}${acked ? '' : ' — refused'}`);
  }

  const cam = enrolled.find((d) => d.type === 'camera')!;
  const plc = enrolled.find((d) => d.type === 'plc')!;
  step(7, `the camera is compromised: it tries to command the PLC and to listen to the OT segment`);
  const camClient = clients.get(cam.id)!;
  const sub = await camClient.subscribeAsync(`segments/ot/#`, { qos: 1 }).catch((e: Error) => e);
  info(`${c(33, '✘')} subscribe segments/ot/# → refused (SUBACK ${sub instanceof Error ? 'failure 0x80' : `0x${Number(sub[0]?.qos).toString(16)}`})`);
  const dropped = new Promise<boolean>((resolve) => { camClient.once('close', () => resolve(true)); setTimeout(() => resolve(false), 2000); });
  camClient.publish(`devices/${plc.id}/cmd`, 'STOP', { qos: 1 });
  info(`${c(33, '✘')} publish devices/${plc.id}/cmd → ${(await dropped) ? 'refused; MQTT 3.1.1 has no PUBACK failure code, so the gateway disconnects it' : c(31, 'NOT refused')}`);
  const why = h.pdp.decide({ principal: cam.id, action: 'publish', topic: `devices/${plc.id}/cmd` });
  info(`policy says ${why.decision}: no permit matches a camera publishing into another device's namespace (default deny)`);

  const target = enrolled[0]!;
  const issuerPem = cp.authority.activeIssuing.row.cert_pem;
  step(8, `OCSP before revocation: ${target.id}`);
  const before = await checkOcsp({ ocspUrl: `${h.pkiUrl}/ocsp`, certPem: readFileSync(target.certPath, 'utf8'), issuerPem });
  info(`OCSP responder says: ${c(32, before.status)} (signed by ${before.responder}, signature verified)`);

  step(9, `the camera's key leaks: zeta device revoke ${target.id} --reason keyCompromise`);
  const { client: live } = await connectDevice({ server: mqttUrl, dir: target.dir });
  clients.set(target.id, live);
  info(`(the camera is connected again: a denied message does not revoke anything by itself)`);
  const cut = new Promise<number>((resolve) => live.once('close', () => resolve(performance.now())));
  const t0 = performance.now();
  const rv = await cp.inventory.revoke(target.id, 'keyCompromise', 'operator:demo');
  const cutAt = await Promise.race([cut, new Promise<number>((r) => setTimeout(() => r(-1), 3000))]);
  info(cutAt < 0 ? c(31, 'live MQTT session NOT closed') : `${c(32, '✔')} live MQTT session closed by the gateway ${(cutAt - t0).toFixed(0)} ms after the revocation`);
  info(`revoked certificate(s) ${rv.revokedSerials.map((s) => s.slice(0, 12) + '…').join(', ')}; device state ${rv.device.state}`);
  const after = await checkOcsp({ ocspUrl: `${h.pkiUrl}/ocsp`, certPem: readFileSync(target.certPath, 'utf8'), issuerPem });
  info(`OCSP responder says: ${c(31, after.status)}${after.revokedAt === undefined ? '' : ` at ${after.revokedAt}`}${after.reason === undefined ? '' : `, reason ${after.reason}`}`);
  const crl = await fetch(`${h.pkiUrl}/crl/${cp.authority.activeIssuing.id}.crl`);
  info(`CRL at ${h.pkiUrl}/crl/${cp.authority.activeIssuing.id}.crl: ${(await crl.arrayBuffer()).byteLength} bytes, rebuilt in the revoking transaction`);

  step(10, 'a fleet runs through the gateway; an attacker takes over one device and reaches for another segment');
  const simOut = join(dataDir, 'sim');
  let attacked: string[] = [];
  const seen = new Set<string>();
  for await (const ev of runFullSim({ server: api, token: init.adminToken, caFile: files.caBundlePath, mqtt: mqttUrl, devices: 8, speed: 600, warmupS: 5, settleS: 35, attacks: ['lateral'], outDir: simOut, prefix: 'demo' })) {
    if (ev.type === 'phase' && ev.phase !== 'attack' && !seen.has(ev.phase)) { seen.add(ev.phase); info(`${c(2, ev.phase.padEnd(8))} ${ev.message}`); }
    if (ev.type === 'attack') { attacked = [...ev.episode.keys]; info(`${c(31, 'attack')}   ${attacked.join(', ')}: ${ev.description}`); }
    if (ev.type === 'alert' && ev.episode !== null) info(`${c(33, 'alert')}    ${ev.alert.rule} on ${ev.alert.key} (${ev.alert.severity}): ${ev.alert.summary ?? ''}`.slice(0, 160));
    if (ev.type === 'done') info(`${ev.summary.devices} devices, ${ev.summary.messagesPublished} messages through the gateway; attack detected: ${ev.summary.detected > 0 ? c(32, 'yes') : c(31, 'no')}`);
  }
  await showResponse(cp, attacked.filter((k) => !/^\d/.test(k)));

  const thermo = enrolled.find((d) => d.type === 'thermostat')!;
  step(11, `${thermo.id} boots tampered firmware: its attestation fails, its trust falls, the playbook quarantines it`);
  // The vendor image's measurement, as the device's own log (no TPM here: a software attestation key).
  const bootLog = (kernel: string): Buffer => encodeEventLog({
    format: 'crypto-agile', specId: { platformClass: 0, specVersion: '2.0.0', uintnSize: 2, algorithms: [{ algId: TPM_ALG.SHA256, digestSize: 32 }] },
    events: [{ seq: 0, pcr: 9, type: 13, typeName: 'EV_IPL', digests: new Map([[TPM_ALG.SHA256, createHash('sha256').update(kernel).digest()]]), data: Buffer.from(kernel) }],
  });
  writeFileSync(join(thermo.dir, 'eventlog.bin'), bootLog('kernel: vendor image'));
  const good = await attestOnce({ server: api, dir: thermo.dir });
  info(`${c(32, '✔')} attestation ${good.status} (${good.method} key${good.weaker ? ', marked weaker than a TPM' : ''}); trust on first use pins these measurements`);
  const trustBefore = (await cp.inventory.get(thermo.id)).trustScore;
  const bad = await demoTamperedFirmware({ server: api, dir: thermo.dir });
  info(`${c(31, '✘')} attestation ${bad.status}: ${bad.reason ?? ''} — the log the device sent does not give the PCRs it signed`);
  await showResponse(cp, [thermo.id], trustBefore);

  step(12, 'the audit trail: every act above, hash-chained and signed');
  await cp.audit.checkpoint();
  const v = await cp.audit.verify();
  const entries = await cp.audit.list({ limit: 1000 });
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(`${e.action}${e.outcome === 'ok' ? '' : ` (${e.outcome})`}`, (counts.get(`${e.action}${e.outcome === 'ok' ? '' : ` (${e.outcome})`}`) ?? 0) + 1);
  info([...counts].map(([k, n]) => `${k} ×${n}`).join(', '));
  info(`zeta audit verify: ${v.ok ? c(32, `OK — ${v.entries} entries, ${v.checkpoints} signed checkpoint(s)`) : c(31, 'FAILED')}`);

  console.log(`\n${c(1, 'Done.')} Try it yourself:`);
  info(`npx zeta init --data ./fleet && npx zeta serve --data ./fleet`);
  info(`npx zeta device add --data ./fleet --name cam --type camera --json`);
  info(`npx zeta agent enroll --server https://localhost:8443 --device <id> --token <token> --out ./dev`);
  if (keep) {
    console.log(`\nServer still running (Ctrl-C to stop). Admin token: ${init.adminToken}`);
    const stop = async (): Promise<void> => { await h.close(); await cp.close(); rmSync(dataDir, { recursive: true, force: true }); process.exit(0); };
    process.once('SIGINT', () => void stop());
    return;
  }
  for (const cl of clients.values()) cl.end(true);
  await h.close();
  await cp.close();
  rmSync(dataDir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error('demo failed:', e);
  process.exit(1);
});
