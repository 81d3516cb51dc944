/** `npm start` must keep working: the demo runs to the end and shows the revocation through OCSP. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

it('the demo enrolls over EST, enforces at the gateway, and cuts a revoked device off live', async () => {
  const root = join(import.meta.dirname, '..');
  const out = await new Promise<{ code: number; text: string }>((resolve) => {
    const c = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/demo.ts')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    c.stdout.on('data', (d: Buffer) => { text += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { text += d.toString(); });
    c.on('close', (code) => resolve({ code: code ?? 1, text }));
  });
  assert.equal(out.code, 0, out.text);
  assert.equal((out.text.match(/✔ spiffe:\/\/zeta\.local\/device\//g) ?? []).length, 5);
  assert.match(out.text, /OCSP responder says: good/);
  assert.match(out.text, /OCSP responder says: revoked at .*reason keyCompromise/);
  assert.match(out.text, /ZETA_ERR_TOKEN_INVALID/);
  assert.match(out.text, /zeta audit verify: OK/);
  assert.equal((out.text.match(/✔ \S+\s+published devices\//g) ?? []).length, 5, 'every device publishes through the gateway');
  assert.match(out.text, /subscribe segments\/ot\/# → refused/);
  assert.match(out.text, /publish devices\/plc-\S+\/cmd → refused/);
  assert.match(out.text, /live MQTT session closed by the gateway \d+ ms after the revocation/);
  assert.match(out.text, /Dashboard https:\/\/localhost:\d+\/ {2}user demo, password \S+, TOTP secret [A-Z2-7]+/);
  // The closed loop: an attack through the real gateway is detected and a playbook quarantines it.
  assert.match(out.text, /attack detected: yes/);
  assert.match(out.text, /response: quarantine \(applied\) by playbook step quarantine-/);
  // The tampered-firmware device: attestation fails, trust falls, it is quarantined.
  assert.match(out.text, /attestation failed: event-log-pcr-mismatch/);
  assert.match(out.text, /✔ thermostat-\S+: state quarantined, trust \d+ → \d+/);
  assert.equal((out.text.match(/: state quarantined/g) ?? []).length, 2, out.text);
});
