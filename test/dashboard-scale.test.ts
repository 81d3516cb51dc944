/**
 * 100,000 devices: imported through the inventory's bulk import, then searched, filtered, sorted
 * and paged through the API the dashboard uses, and through the dashboard itself (a virtualized
 * table: the rows in the DOM stay a screenful however large the fleet). Correctness only; the
 * speed of these calls belongs in bench/, not in assertions.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from './helpers.js';
import { createOperator, freshTotp, type CreatedOperator } from './iam-helpers.js';
import { call, ensureWebBuilt, launchChromium, screenshotDir, serverSpkiPin, uiLoginTotp } from './dashboard-helpers.js';

const N = 100_000;
const idOf = (i: number): string => `dev-${String(i).padStart(6, '0')}`;

describe('dashboard with 100,000 devices', () => {
  let s: TestServer;
  let browser: Browser;
  let op: CreatedOperator;
  const get = <T>(path: string) => call(s.h.apiUrl, s.caBundlePath, 'GET', path, { token: s.adminToken }).then((r) => { assert.equal(r.status, 200, r.body); return r.json<T>(); });

  before(async () => {
    await ensureWebBuilt();
    s = await startTestServer();
    const records = Array.from({ length: N }, (_, i) => ({ id: idOf(i), name: `Sensor ${i}`, type: i % 3 === 0 ? 'camera' : 'sensor', segment: `seg-${i % 10}`, site: `site-${i % 7}` }));
    const r = await s.cp.inventory.importDevices(records, 'test');
    assert.equal(r.imported, N);
    op = await createOperator(s, { username: 'scale', role: 'devops', password: 'correct horse scale', totp: true });
    browser = await launchChromium(await serverSpkiPin(s.h.apiUrl, s.caBundlePath));
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  it('search, filters, sort and deep paging answer correctly over the API', async () => {
    const all = await get<{ total: number; devices: { id: string }[] }>('/api/v1/devices?limit=100');
    assert.equal(all.total, N);
    assert.equal(all.devices.length, 100);
    const hit = await get<{ total: number; devices: { id: string }[] }>('/api/v1/devices?q=dev-04242&limit=100');
    assert.equal(hit.total, 10);
    assert.deepEqual(hit.devices.map((d) => d.id), Array.from({ length: 10 }, (_, k) => idOf(42420 + k)));
    const deep = await get<{ total: number; devices: { id: string }[] }>(`/api/v1/devices?limit=100&offset=${N - 50}`);
    assert.equal(deep.devices.length, 50);
    assert.equal(deep.devices.at(-1)!.id, idOf(N - 1));
    const filtered = await get<{ total: number }>('/api/v1/devices?segment=seg-3&type=camera&limit=1');
    assert.equal(filtered.total, Array.from({ length: N }, (_, i) => i).filter((i) => i % 10 === 3 && i % 3 === 0).length);
    const sorted = await get<{ devices: { name: string }[] }>('/api/v1/devices?sort=name&order=desc&limit=3');
    assert.deepEqual(sorted.devices.map((d) => d.name), ['Sensor 99999', 'Sensor 99998', 'Sensor 99997']);
    const bySite = await get<{ total: number; devices: { site: string }[] }>('/api/v1/devices?sort=site&order=desc&limit=5&offset=14000');
    assert.ok(bySite.devices.every((d) => d.site === 'site-6'));
    const o = await get<{ devices: { total: number; bySegment: Record<string, number> } }>('/api/v1/overview');
    assert.equal(o.devices.total, N);
    assert.equal(o.devices.bySegment['seg-0'], N / 10);
  });

  it('the inventory page searches and scrolls to the last device while keeping only a screenful of rows', async () => {
    const shots = screenshotDir();
    const base = s.h.apiUrl.replace('127.0.0.1', 'localhost');
    const page = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    await uiLoginTotp(page, base, { username: op.username, password: op.password, code: () => freshTotp(op.totpSecret!) });
    await page.goto(`${base}/inventory`);
    await page.getByTestId('result-count').filter({ hasText: '100,000 devices' }).waitFor();
    const table = page.getByRole('table', { name: 'Devices' });
    assert.equal(await table.getAttribute('aria-rowcount'), String(N + 1));
    // Only the rows in view (plus a small overscan) exist.
    assert.ok((await page.locator('.vrow').count()) < 100);

    const body = page.getByRole('rowgroup', { name: 'Device rows, scroll for more' });
    await body.evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await page.getByRole('link', { name: 'Sensor 99999', exact: true }).waitFor();
    assert.ok((await page.locator('.vrow').count()) < 100);
    await page.screenshot({ path: join(shots, 'inventory-100k-end.png') });

    await page.getByLabel('Search').fill('dev-04242');
    await page.getByTestId('result-count').filter({ hasText: /^10 devices$/ }).waitFor();
    await page.getByRole('link', { name: 'Sensor 42429', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Name' }).click();
    await page.getByRole('columnheader', { name: /Name/ }).and(page.locator('[aria-sort="ascending"]')).waitFor();
    await page.getByLabel('Search').fill('');
    await page.getByLabel('State').selectOption('registered');
    await page.getByLabel('Segment').fill('seg-4');
    await page.getByTestId('result-count').filter({ hasText: /^10,000 devices$/ }).waitFor();
    await page.screenshot({ path: join(shots, 'inventory-100k-filtered.png') });
  });
});
