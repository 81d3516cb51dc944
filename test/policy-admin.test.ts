/**
 * Policy administration end to end: apply (validated against the schema, audited with the diff),
 * check, what-if over thousands of devices, the analyzer, shadow mode, and a policy change reaching
 * a live gateway session within a second.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, tempDir, zeta, type TestServer } from './helpers.js';
import { enroll, connectDevice } from '../src/agent/index.js';
import { defaultPolicyText, parsePolicySet, whatIf, deviceEntity, analyzePolicySet } from '../src/policy/index.js';
import type { ZetaError } from '../src/common/errors.js';

describe('policy administration', () => {
  let s: TestServer;
  const work = tempDir('zeta-pol-');
  const W = (f: string): string => join(work.path, f);
  let cam = '';
  let camDir = '';

  before(async () => {
    s = await startTestServer();
    const d = await s.cp.inventory.add({ id: 'cam-pol-1', name: 'cam', type: 'camera', segment: 'cams' }, 'test');
    cam = d.device.id;
    camDir = W('cam');
    await enroll({ server: s.h.apiUrl.replace('127.0.0.1', 'localhost'), deviceId: cam, token: d.enrollmentToken, outDir: camDir });
  });
  after(async () => {
    await s?.close();
    work.cleanup();
  });

  it('zeta init enforced the shipped least-privilege templates as version 1', async () => {
    const r = await zeta(['policy', 'show', '--data', s.dataDir, '--json']);
    const v = JSON.parse(r.stdout) as { active: { version: number; policies: string[] } };
    assert.equal(v.active.version, 1);
    assert.ok(v.active.policies.includes('camera-publish-status-stream'));
    const an = await zeta(['policy', 'analyze', '--data', s.dataDir, '--json']);
    assert.equal(an.code, 0, an.stdout);
    assert.deepEqual(JSON.parse(an.stdout).findings, []);
  });

  it('policy check prints the decision with its reasons', async () => {
    const allow = JSON.parse((await zeta(['policy', 'check', '--data', s.dataDir, '--device', cam, '--action', 'publish', '--topic', `devices/${cam}/status`, '--json'])).stdout) as { decision: string; reasons: string[] };
    assert.equal(allow.decision, 'allow');
    assert.deepEqual(allow.reasons, ['camera-publish-status-stream']);
    const deny = JSON.parse((await zeta(['policy', 'check', '--data', s.dataDir, '--device', cam, '--action', 'publish', '--topic', `devices/${cam}/cmd`, '--json'])).stdout) as { decision: string; reasons: string[] };
    assert.equal(deny.decision, 'deny');
    const other = JSON.parse((await zeta(['policy', 'check', '--data', s.dataDir, '--device', cam, '--action', 'subscribe', '--topic', 'devices/someone-else/#', '--json'])).stdout) as { decision: string };
    assert.equal(other.decision, 'deny');
  });

  it('refuses invalid policies with the validator message, applies nothing', async () => {
    const cases: [string, RegExp][] = [
      ['permit(principal, action, resource) when { principal.colour == "red" };', /colour|attribute/i],
      ['permit(principal is Gadget, action, resource);', /Gadget/],
      ['permit(principal, action == Action::"fly", resource);', /fly/],
      ['this is not cedar', /parse|unexpected/i],
    ];
    for (const [text, re] of cases) {
      writeFileSync(W('bad.cedar'), text);
      const r = await zeta(['policy', 'apply', '--data', s.dataDir, W('bad.cedar'), '--json']);
      assert.equal(r.code, 2, r.stdout);
      const e = JSON.parse(r.stdout).error as { code: string; message: string };
      assert.equal(e.code, 'ZETA_ERR_POLICY_INVALID');
      assert.match(e.message, re);
    }
    const v = JSON.parse((await zeta(['policy', 'history', '--data', s.dataDir, '--json'])).stdout) as { versions: unknown[] };
    assert.equal(v.versions.length, 1);
  });

  it('what-if reports exactly who gains and loses, on a fleet of thousands', () => {
    const devices = Array.from({ length: 3000 }, (_, i) => deviceEntity({
      id: `d-${i}`, name: 'x', type: ['camera', 'thermostat', 'lock', 'plc', 'sensor'][i % 5]!, vendor: null, model: null, firmware: null, owner: null,
      site: null, segment: i % 5 === 3 ? 'ot-1' : 'it', tags: [], state: 'active', certificate: null, lastSeen: null, posture: {}, trustScore: null, createdAt: '', updatedAt: '',
    }));
    const current = parsePolicySet(defaultPolicyText());
    // Proposal: cameras may no longer stream.
    const proposed = parsePolicySet(defaultPolicyText().replace('["status", "stream"].contains(context.topic.kind)', '["status"].contains(context.topic.kind)'));
    const t0 = Date.now();
    const r = whatIf(current, proposed, devices);
    assert.ok(Date.now() - t0 < 20_000);
    assert.equal(r.devices, 3000);
    assert.equal(r.gained.length, 0);
    assert.equal(r.lost.length, 600, 'every camera loses exactly publish .../stream');
    assert.ok(r.lost.every((l) => l.action === 'publish' && /\/stream$/.test(l.topic ?? '')));
    assert.deepEqual(r.summary, [{ change: 'loss', action: 'publish', pattern: 'devices/<self>/stream', devices: 600 }]);
  });

  it('the analyzer flags overly broad policies', () => {
    const f = analyzePolicySet(parsePolicySet([
      '@id("everything") permit(principal, action, resource);',
      '@id("pub-anywhere") permit(principal is Device, action == Action::"publish", resource is Topic);',
      '@id("dead") permit(principal is Device, action == Action::"publish", resource is Topic) when { principal.type == "lock" && context has topic && context.topic.kind == "status" };',
      '@id("no-locks") forbid(principal is Device, action, resource) when { principal.type == "lock" };',
    ].join('\n')));
    const kinds = (p: string): string[] => f.filter((x) => x.policy === p).map((x) => x.kind).sort();
    assert.deepEqual(kinds('everything'), ['any-principal-any-resource', 'cross-device-access', 'no-segment-or-type-condition', 'wildcard-topic-access']);
    assert.ok(kinds('pub-anywhere').includes('wildcard-topic-access'));
    assert.ok(kinds('dead').includes('shadowed-by-forbid'));
  });

  it('a policy change reaches a live session within a second; it is audited with the diff', async () => {
    const mqtt = `mqtts://localhost:${s.h.gateway!.port}`;
    const { client } = await connectDevice({ server: mqtt, dir: camDir });
    const closed = new Promise<number>((resolve) => client.once('close', () => resolve(Date.now())));
    await client.subscribeAsync(`devices/${cam}/cmd`, { qos: 1 });
    // Remove the device's right to connect at all (all other policies kept).
    writeFileSync(W('no-connect.cedar'), defaultPolicyText().replace(/@id\("device-connect-when-active"\)[\s\S]*?;\n/, ''));
    const r = await zeta(['policy', 'apply', '--data', s.dataDir, W('no-connect.cedar'), '--comment', 'lockdown', '--json']);
    const appliedAt = Date.now();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout) as { version: number; diff: { removed: string[] } };
    assert.deepEqual(out.diff.removed, ['device-connect-when-active']);
    const at = await Promise.race([closed, new Promise<number>((res) => setTimeout(() => res(-1), 3000))]);
    client.end(true);
    assert.ok(at > 0, 'the session survived a policy that removed its access');
    assert.ok(at - appliedAt < 1000, `closed ${at - appliedAt} ms after the policy change`);
    const entries = await s.cp.audit.list({ action: 'policy.apply', limit: 10 });
    const last = entries[entries.length - 1]!;
    assert.equal(last.details.version, out.version);
    assert.deepEqual(last.details.removed, ['device-connect-when-active']);
    assert.equal(last.details.comment, 'lockdown');
    // restore
    writeFileSync(W('default.cedar'), defaultPolicyText());
    assert.equal((await zeta(['policy', 'apply', '--data', s.dataDir, W('default.cedar'), '--json'])).code, 0);
  });

  it('shadow mode logs where a proposed set disagrees with the enforced one', async () => {
    await s.cp.policies.setShadow(defaultPolicyText().replace('["status", "stream"]', '["status"]'), 'test');
    await s.h.feed.poll();
    await new Promise((r) => setTimeout(r, 200));
    const pdp = s.h.pdp;
    const d = pdp.decide({ principal: cam, action: 'publish', topic: `devices/${cam}/stream` });
    assert.equal(d.decision, 'allow', 'the enforced set still decides');
    const dis = pdp.log.filter((e) => e.shadow !== undefined && e.request.topic === `devices/${cam}/stream`);
    assert.equal(dis.length, 1);
    assert.equal(dis[0]!.shadow!.decision, 'deny');
    await assert.rejects(s.cp.policies.setShadow('nonsense', 'test'), (e: ZetaError) => e.code === 'ZETA_ERR_POLICY_INVALID');
  });
});
