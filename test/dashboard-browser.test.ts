/**
 * The dashboard in a real browser (Debian's Chromium via playwright-core) against a real server:
 * password + TOTP login, the inventory search, quarantine with confirmation and step-up, the
 * segment map changing live, an auditor who cannot act, and nothing for the unauthenticated.
 * Screenshots land in test-output/screenshots/.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { startTestServer, type TestServer } from './helpers.js';
import { createOperator, totpNow, type CreatedOperator } from './iam-helpers.js';
import { ManualClock } from '../src/common/clock.js';
import { emitChange } from '../src/store/index.js';
import { ensureWebBuilt, launchChromium, screenshotDir, serverSpkiPin, uiLoginTotp } from './dashboard-helpers.js';

describe('dashboard in Chromium', () => {
  let s: TestServer;
  let browser: Browser;
  let base = '';
  let shots = '';
  let devops: CreatedOperator;
  let auditor: CreatedOperator;
  // The server runs on a manual clock so the test can let the step-up window (granted by a fresh
  // login) lapse without waiting; TOTP codes are computed for that clock. Each code moves the
  // clock one TOTP period on, so no code is ever a replay of the previous one (RFC 6238 §5.2).
  const clock = new ManualClock(Date.now());
  const codeFor = (op: CreatedOperator) => async (): Promise<string> => { clock.advance(30_000); return totpNow(op.totpSecret!, clock.now()); };
  const login = (op: CreatedOperator) => ({ username: op.username, password: op.password, code: codeFor(op) });
  const contexts: BrowserContext[] = [];
  const newContext = async (): Promise<BrowserContext> => {
    const c = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    contexts.push(c);
    return c;
  };

  before(async () => {
    await ensureWebBuilt();
    shots = screenshotDir();
    s = await startTestServer({ streamHeartbeatMs: 1000 }, clock);
    base = s.h.apiUrl.replace('127.0.0.1', 'localhost');
    await s.cp.segments.addSegment({ name: 'cameras', kind: 'type' }, 'test');
    await s.cp.segments.addSegment({ name: 'hvac', kind: 'type' }, 'test');
    await s.cp.segments.addService({ name: 'nvr', addresses: ['10.0.9.10/32'], protocol: 'tcp', ports: [554] }, 'test');
    await s.cp.segments.addFlow({ from: 'cameras', toService: 'nvr', direction: 'one-way' }, 'test');
    await s.cp.segments.addFlow({ from: 'hvac', toSegment: 'cameras', protocol: 'tcp', ports: [443], direction: 'one-way' }, 'test');
    await s.cp.inventory.importDevices([
      { id: 'cam-1', name: 'Lobby camera', type: 'camera', segment: 'cameras', site: 'hq' },
      { id: 'cam-2', name: 'Dock camera', type: 'camera', segment: 'cameras', site: 'dock' },
      { id: 'th-1', name: 'Attic thermostat', type: 'thermostat', segment: 'hvac', site: 'hq' },
    ], 'test');
    await s.cp.inventory.setPosture('cam-1', { trustScore: 90 });
    await s.cp.inventory.setPosture('cam-1', { trustScore: 72 });
    devops = await createOperator(s, { username: 'dora', role: 'devops', password: 'correct horse battery', totp: true });
    auditor = await createOperator(s, { username: 'audrey', role: 'auditor', password: 'correct horse auditor', totp: true });
    browser = await launchChromium(await serverSpkiPin(s.h.apiUrl, s.caBundlePath));
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await s?.close();
  });

  it('an unauthenticated visitor gets the login form only: API 401, no fleet data in the page or its script', async () => {
    const page = await (await newContext()).newPage();
    const res = await page.goto(`${base}/devices/cam-1`);
    assert.equal(res?.status(), 200);
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0);
    const api = await page.evaluate(async () => {
      const r = await fetch('/api/v1/devices');
      return { status: r.status, body: await r.text() };
    });
    assert.equal(api.status, 401);
    assert.doesNotMatch(api.body, /cam-1|Lobby/);
    const html = await page.content();
    assert.doesNotMatch(html, /cam-1|Lobby camera|Attic/);
    const srcs = await page.locator('script[src]').evaluateAll((els) => els.map((e) => e.getAttribute('src') ?? ''));
    const scripts = await Promise.all(srcs.map((src) => page.evaluate(async (u) => (await fetch(u)).text(), src)));
    assert.ok(scripts.length > 0);
    for (const js of scripts) assert.doesNotMatch(js, /Lobby camera|Attic thermostat/);
    await page.screenshot({ path: join(shots, 'login.png') });
  });

  it('a wrong password is refused with a clear message and no session', async () => {
    const page = await (await newContext()).newPage();
    await page.goto(`${base}/`);
    await page.getByLabel('User name').fill('dora');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('alert').filter({ hasText: /ZETA_ERR_LOGIN_FAILED|not/i }).waitFor();
    const me = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).status);
    assert.equal(me, 401);
  });

  it('password + TOTP login shows the overview with the fleet', async () => {
    const page = await (await newContext()).newPage();
    await uiLoginTotp(page, base, login(devops));
    await page.getByTestId('device-total').filter({ hasText: '3' }).waitFor();
    assert.equal(await page.getByTestId('role').textContent(), 'devops');
    // Keyboard: the first Tab lands on "Skip to content", with a visible focus ring.
    await page.keyboard.press('Tab');
    const focused = await page.evaluate('(() => { const e = document.activeElement; const st = getComputedStyle(e); return { text: e.textContent, outline: st.outlineStyle, width: st.outlineWidth }; })()') as { text: string; outline: string; width: string };
    assert.equal(focused.text, 'Skip to content');
    assert.notEqual(focused.outline, 'none');
    assert.notEqual(focused.width, '0px');
    await page.screenshot({ path: join(shots, 'overview.png'), fullPage: true });
  });

  it('finds a device by search, quarantines it with confirmation and step-up, and the segment map changes live', async () => {
    const ctx = await newContext();
    const page = await ctx.newPage();
    await uiLoginTotp(page, base, login(devops));
    // A second tab on the segment map, left open: it must update from the stream, not a reload.
    const map = await ctx.newPage();
    await map.goto(`${base}/segments`);
    const camNode = map.locator('[data-node="cameras"]');
    await camNode.waitFor();
    assert.equal(await camNode.getAttribute('data-quarantined'), '0');

    await page.getByRole('link', { name: 'Inventory' }).click();
    await page.getByLabel('Search').fill('Lobby');
    await page.getByTestId('result-count').filter({ hasText: /^1 devices$/ }).waitFor();
    await page.screenshot({ path: join(shots, 'inventory-search.png') });
    await page.getByRole('link', { name: 'Lobby camera' }).click();
    await page.getByRole('heading', { name: /Lobby camera/ }).waitFor();
    await page.getByRole('img', { name: /Trust score of Lobby camera: 2 changes, now 72/ }).waitFor();

    // Logging in was a fresh second factor; five minutes later a destructive action needs another.
    clock.advance(6 * 60_000);
    await page.getByRole('button', { name: 'Quarantine' }).click();
    const confirm = page.getByRole('dialog', { name: 'Quarantine Lobby camera?' });
    await confirm.getByLabel('Reason (recorded in the audit log)').fill('odd traffic at night');
    await confirm.getByRole('button', { name: 'Quarantine device' }).click();
    // The server wants a fresh second factor: the step-up dialog asks for it, then the request is retried.
    const stepUp = page.getByRole('dialog', { name: 'Confirm it is you' });
    await stepUp.getByLabel('Authenticator code').fill(await codeFor(devops)());
    await page.screenshot({ path: join(shots, 'step-up.png') });
    await stepUp.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('status').filter({ hasText: 'Quarantine done.' }).waitFor();
    await page.getByRole('heading', { name: /Lobby camera/ }).getByText('quarantined').waitFor();
    assert.equal((await s.cp.inventory.get('cam-1')).state, 'quarantined');
    await page.screenshot({ path: join(shots, 'device-quarantined.png'), fullPage: true });

    await map.locator('[data-node="cameras"][data-quarantined="1"]').waitFor();
    await map.getByTestId('quarantined-list').getByRole('link', { name: 'Lobby camera' }).waitFor();
    await map.screenshot({ path: join(shots, 'segment-map.png') });
    const audit = await s.cp.audit.list({ action: 'device.quarantine', subject: 'cam-1' });
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.actor, 'operator:dora');
  });

  it('an auditor sees no action buttons, and a forged request is refused', async () => {
    const page = await (await newContext()).newPage();
    await uiLoginTotp(page, base, login(auditor));
    await page.goto(`${base}/devices/cam-2`);
    await page.getByRole('heading', { name: /Dock camera/ }).waitFor();
    await page.getByText(/Read-only: your role \(auditor\)/).waitFor();
    for (const name of ['Quarantine', 'Suspend', 'Revoke', 'Resume', 'Re-attest']) assert.equal(await page.getByRole('button', { name, exact: true }).count(), 0, name);
    await page.screenshot({ path: join(shots, 'auditor-device.png') });
    const forged = await page.evaluate(async () => {
      const me = (await (await fetch('/api/v1/auth/me')).json()) as { csrfToken: string };
      const r = await fetch('/api/v1/devices/cam-2/quarantine', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken }, body: '{}' });
      return { status: r.status, code: ((await r.json()) as { code: string }).code };
    });
    assert.deepEqual(forged, { status: 403, code: 'ZETA_ERR_FORBIDDEN' });
    // Without the CSRF header the same cookie request is refused before authorization is even asked.
    const noCsrf = await page.evaluate(async () => (await fetch('/api/v1/devices/cam-2/quarantine', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status);
    assert.equal(noCsrf, 403);
    assert.equal((await s.cp.inventory.get('cam-2')).state, 'registered');
    await page.goto(`${base}/audit`);
    await page.getByTestId('chain-status').filter({ hasText: 'Intact' }).waitFor();
    await page.screenshot({ path: join(shots, 'audit.png') });
  });

  it('registers a passkey after a TOTP login, then logs in with it (CDP virtual authenticator)', async () => {
    const ada = await createOperator(s, { username: 'ada', role: 'admin', password: 'correct horse admin ada', totp: true });
    const page = await (await newContext()).newPage();
    // A virtual CTAP2 platform authenticator (Chrome DevTools Protocol, WebAuthn domain): real
    // WebAuthn ceremonies in the browser, with a software key and user presence simulated.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await uiLoginTotp(page, base, login(ada));
    await page.getByRole('link', { name: 'ada' }).click();
    await page.getByLabel('Name').fill('test laptop');
    await page.getByRole('button', { name: 'Register passkey' }).click();
    await page.getByRole('status').filter({ hasText: 'Passkey "test laptop" registered.' }).waitFor();
    await page.getByTestId('passkey-count').filter({ hasText: '1' }).waitFor();
    assert.equal((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials.length, 1);
    await page.screenshot({ path: join(shots, 'account-passkey.png') });
    await page.getByRole('button', { name: 'Log out' }).click();

    await page.getByLabel('User name').fill('ada');
    await page.getByLabel('Password').fill(ada.password);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.getByTestId('whoami').filter({ hasText: 'ada' }).waitFor();
    const audit = await s.cp.audit.list({ actor: 'operator:ada', limit: 1000 });
    assert.ok(audit.some((e) => e.action === 'operator.mfa-enrol' && (e.details as { method?: string }).method === 'webauthn'));
  });

  it('policies: validation errors show inline, the what-if report comes before applying, then apply', async () => {
    const sam = await createOperator(s, { username: 'sam', role: 'secops', password: 'correct horse secops', totp: true });
    const page = await (await newContext()).newPage();
    await uiLoginTotp(page, base, login(sam));
    await page.getByRole('link', { name: 'Policies' }).click();
    const editor = page.getByLabel('Edit the policy set (Cedar)');
    await page.getByTestId('policy-version').waitFor();
    const before = Number(await page.getByTestId('policy-version').textContent());
    const original = await editor.inputValue();
    assert.match(original, /permit/);
    await editor.fill(`${original}\npermit (principal, action == Action::"teleport", resource);\n`);
    assert.equal(await page.getByRole('button', { name: 'Apply…' }).isDisabled(), true);
    await page.getByRole('button', { name: 'Validate and show what changes' }).click();
    const problems = page.locator('#policy-problems');
    await problems.waitFor();
    assert.match(await problems.textContent() ?? '', /teleport/);
    assert.equal(await editor.getAttribute('aria-invalid'), 'true');
    await page.screenshot({ path: join(shots, 'policy-invalid.png') });

    await editor.fill(`// reviewed by sam\n${original}`);
    await page.getByRole('button', { name: 'Validate and show what changes' }).click();
    await page.getByTestId('what-if').getByText('No device gains or loses anything.').waitFor();
    await page.getByRole('button', { name: 'Apply…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Apply this policy set?' });
    await dialog.getByLabel('Comment (recorded with the version)').fill('comment only');
    await dialog.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('status').filter({ hasText: `Applied as version ${before + 1}.` }).waitFor();
    assert.equal((await s.cp.policies.active())?.version, before + 1);
    await page.screenshot({ path: join(shots, 'policy-applied.png') });
  });

  it('first login enrols TOTP (secret shown as text and otpauth URL), shows recovery codes once; a recovery code logs in later', async () => {
    const nia = await createOperator(s, { username: 'nia', role: 'devops', password: 'correct horse newcomer' });
    const page = await (await newContext()).newPage();
    await page.goto(`${base}/`);
    await page.getByLabel('User name').fill('nia');
    await page.getByLabel('Password').fill(nia.password);
    await page.getByRole('button', { name: 'Continue' }).click();
    const secret = (await page.getByTestId('totp-secret').textContent())!.trim();
    assert.match(secret, /^[A-Z2-7]{16,}$/);
    assert.match((await page.getByTestId('totp-url').textContent())!, new RegExp(`^otpauth://totp/.*secret=${secret}`));
    await page.screenshot({ path: join(shots, 'enrol-totp.png') });
    await page.getByLabel('Code from your authenticator app').fill(await codeFor({ ...nia, totpSecret: secret })());
    await page.getByRole('button', { name: 'Confirm and sign in' }).click();
    const codes = await page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').allTextContents();
    assert.equal(codes.length, 10);
    await page.getByRole('button', { name: /I have saved them/ }).click();
    await page.getByTestId('whoami').filter({ hasText: 'nia' }).waitFor();
    await page.getByRole('button', { name: 'Log out' }).click();

    await page.getByLabel('User name').fill('nia');
    await page.getByLabel('Password').fill(nia.password);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Use a recovery code' }).click();
    await page.getByLabel('Recovery code', { exact: true }).fill('not-a-code');
    await page.getByRole('button', { name: 'Use recovery code' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByLabel('Recovery code', { exact: true }).fill(codes[0]!.trim());
    await page.getByRole('button', { name: 'Use recovery code' }).click();
    await page.getByTestId('whoami').filter({ hasText: 'nia' }).waitFor();
  });

  it('logging out ends the session: the API answers 401 and the login form is back', async () => {
    const page = await (await newContext()).newPage();
    await uiLoginTotp(page, base, login(auditor));
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('form', { name: 'Sign in' }).waitFor();
    assert.equal(await page.evaluate(async () => (await fetch('/api/v1/overview')).status), 401);
  });
  it('alerts: a raised alert shows its explanation; acknowledging it records who did', async () => {
    // The attestation service reports a failed attestation on the change feed; the response engine
    // persists the alert (and the default playbook quarantines the thermostat).
    await s.cp.store.writeTx(async (tx) => { await emitChange(tx, clock.now(), 'device.attestation_failed', 'th-1', { reason: 'event-log-pcr-mismatch', code: 'ZETA_ERR_ATTESTATION_FAILED' }); });
    await s.h.feed.poll();
    for (let i = 0; i < 100 && (await s.cp.store.db.selectFrom('alerts').select('id').where('device_id', '=', 'th-1').execute()).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const page = await (await newContext()).newPage();
    await uiLoginTotp(page, base, login(devops));
    await page.getByRole('link', { name: 'Alerts', exact: true }).click();
    await page.getByRole('heading', { name: /attestation-failed on th-1/ }).waitFor();
    await page.getByText(/event-log-pcr-mismatch/).first().waitFor();
    await page.getByLabel('Note').fill('firmware rollback scheduled');
    await page.getByRole('button', { name: 'Acknowledge' }).click();
    await page.getByRole('list', { name: 'Alerts' }).getByText(/attestation-failed · acknowledged/).waitFor();
    await page.screenshot({ path: join(shots, 'alerts.png'), fullPage: true });
    const row = await s.cp.store.db.selectFrom('alerts').selectAll().where('device_id', '=', 'th-1').executeTakeFirstOrThrow();
    assert.equal(row.state, 'acknowledged');
    assert.equal(row.updated_by, 'operator:dora');
    assert.equal(row.note, 'firmware rollback scheduled');
  });
});
