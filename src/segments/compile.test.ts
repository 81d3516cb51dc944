import { it, describe } from 'node:test';
import assert from 'node:assert/strict';
import { compileMqttAccess, filterWithin, mqttAllows, topicMatchesFilter } from './compile-mqtt.js';
import { compileNftRuleset, renderLockdownRuleset } from './compile-nft.js';
import type { Flow, Segment, SegmentsSnapshot, Service } from './model.js';

const seg = (name: string): Segment => ({ name, kind: 'other', description: null, builtin: name === 'quarantine', createdAt: '' });
const svc = (name: string, over: Partial<Service> = {}): Service => ({
  name, description: null, addresses: [], dnsName: null, protocol: 'any', ports: [], role: null, createdAt: '', ...over,
});
const flow = (id: string, over: Partial<Flow>): Flow => ({
  id, from: 'cameras', to: { kind: 'segment', name: 'plcs' }, protocol: 'any', ports: [], mqttTopicPrefix: null, direction: 'one-way',
  fromDeviceType: null, toDeviceType: null, description: null, source: 'manual', createdAt: '', ...over,
});

const snapshot: SegmentsSnapshot = {
  segments: ['cameras', 'plcs', 'recorders', 'quarantine'].map(seg),
  services: [
    svc('video-recorder', { addresses: ['10.71.3.2', 'fd71:3::2'], protocol: 'tcp', ports: [[554, 554]] }),
    svc('remediation', { addresses: ['10.71.3.10', 'fd71:3::10'], protocol: 'tcp', ports: [[8443, 8443]], role: 'remediation' }),
    svc('nvr.example.com', { dnsName: 'nvr.example.com' }),
  ],
  flows: [
    flow('fl-rtsp', { to: { kind: 'service', name: 'video-recorder' }, protocol: null }),
    flow('fl-modbus', { from: 'plcs', to: { kind: 'segment', name: 'plcs' }, protocol: 'tcp', ports: [[502, 502], [20000, 20010]], direction: 'both' }),
    flow('fl-ping', { from: 'recorders', protocol: 'icmp', fromDeviceType: 'nvr' }),
    flow('fl-fix', { from: 'quarantine', to: { kind: 'service', name: 'remediation' }, protocol: null }),
    flow('fl-dns', { to: { kind: 'service', name: 'nvr.example.com' }, protocol: 'udp', ports: [[53, 53]] }),
    flow('fl-video-topic', { to: { kind: 'segment', name: 'recorders' }, protocol: null, mqttTopicPrefix: 'video/{segment}/{device}' }),
    flow('fl-alerts', { from: 'plcs', to: { kind: 'segment', name: 'cameras' }, protocol: null, mqttTopicPrefix: 'alerts', direction: 'both' }),
    flow('fl-cloud', { to: { kind: 'service', name: 'video-recorder' }, protocol: null, mqttTopicPrefix: 'uplink', fromDeviceType: 'doorbell' }),
  ],
  devices: [
    { id: 'cam-1', type: 'camera', segment: 'cameras', state: 'active', addresses: ['10.71.1.2', 'fd71:1::2'] },
    { id: 'cam-2', type: 'camera', segment: 'cameras', state: 'quarantined', addresses: ['10.71.1.3', 'fd71:1::3'] },
    { id: 'cam-3', type: 'camera', segment: 'cameras', state: 'revoked', addresses: ['10.71.1.4'] },
    { id: 'plc-1', type: 'plc', segment: 'plcs', state: 'active', addresses: ['10.71.2.0/28'] },
    { id: 'nvr-1', type: 'nvr', segment: 'recorders', state: 'registered', addresses: ['10.71.4.2'] },
    { id: 'rec-2', type: 'sensor', segment: 'recorders', state: 'active', addresses: ['10.71.4.3'] },
    { id: 'lost-1', type: 'sensor', segment: 'gone', state: 'active', addresses: ['10.71.9.9'] },
  ],
};

describe('nftables compiler', () => {
  const r = compileNftRuleset(snapshot);
  const lines = r.text.split('\n').map((l) => l.trim());
  const setBody = (name: string): string => {
    const m = new RegExp(`\\tset ${name.replace(/\./g, '\\.')} \\{([\\s\\S]*?)\\n\\t\\}`).exec(r.text);
    assert.ok(m, `set ${name} present`);
    return m[1]!;
  };

  it('replaces only its own table, atomically, in one file', () => {
    const code = lines.filter((l) => l !== '' && !l.startsWith('#'));
    assert.deepEqual(code.slice(0, 3), ['table inet zeta', 'delete table inet zeta', 'table inet zeta {']);
    const tables = r.text.match(/\btable\s+\w+\s+\w+/g) ?? [];
    assert.deepEqual([...new Set(tables)], ['table inet zeta']);
    assert.doesNotMatch(r.text, /flush ruleset/);
    assert.equal(r.sha256.length, 64);
    assert.equal(compileNftRuleset(snapshot).text, r.text, 'deterministic');
  });

  it('has a forward chain with policy drop, established first, a counted default drop last', () => {
    assert.ok(lines.includes('type filter hook forward priority 0; policy drop;'));
    const fwd = r.text.slice(r.text.indexOf('chain forward {'), r.text.indexOf('chain quarantine_out'));
    const order = ['zeta:blocked', 'zeta:quarantine', 'zeta:established', 'zeta:invalid', 'flow:', 'zeta:default-drop'].map((c) => fwd.indexOf(`comment "${c}`));
    assert.ok(order.every((v, i) => v >= 0 && (i === 0 || v > order[i - 1]!)), `rule order ${order.join(',')}`);
    assert.match(fwd, /\tcounter drop comment "zeta:default-drop"\n\t}/);
  });

  it('puts a counter and a comment on every rule, naming the flow on flow rules', () => {
    const ruleLines = lines.filter((l) => / (accept|drop|jump \w+) comment /.test(l));
    assert.equal(ruleLines.length, r.rules.length);
    for (const l of ruleLines) assert.match(l, /(^| )counter (accept|drop|jump \w+) comment "(flow:[a-z0-9._-]+ v[46]( reverse| reply)?|zeta:[a-z-]+)"$/);
    assert.deepEqual([...new Set(r.rules.map((x) => x.flowId).filter((x) => x !== null))].sort(), ['fl-dns', 'fl-fix', 'fl-modbus', 'fl-ping', 'fl-rtsp']);
  });

  it('renders per-segment IPv4 and IPv6 interval sets with device addresses', () => {
    assert.match(setBody('seg_cameras_v4'), /type ipv4_addr\s+flags interval\s+auto-merge\s+elements = \{ 10\.71\.1\.2 \}/);
    assert.match(setBody('seg_cameras_v6'), /type ipv6_addr[\s\S]*elements = \{ fd71:1::2 \}/);
    assert.match(setBody('seg_plcs_v4'), /elements = \{ 10\.71\.2\.0\/28 \}/);
    assert.doesNotMatch(setBody('seg_plcs_v6'), /elements/);
    assert.match(setBody('seg_recorders_v4'), /elements = \{ 10\.71\.4\.2, 10\.71\.4\.3 \}/, 'registered devices are routable');
    assert.match(setBody('st_recorders__nvr_v4'), /elements = \{ 10\.71\.4\.2 \}/, 'typed set holds only that type');
    assert.match(setBody('svc_video-recorder_v6'), /elements = \{ fd71:3::2 \}/);
  });

  it('turns flows into rules: service ports, port sets, both directions, icmp per family', () => {
    assert.ok(lines.includes('ip saddr @seg_cameras_v4 ip daddr @svc_video-recorder_v4 tcp dport 554 counter accept comment "flow:fl-rtsp v4"'));
    assert.ok(lines.includes('ip6 saddr @seg_cameras_v6 ip6 daddr @svc_video-recorder_v6 tcp dport 554 counter accept comment "flow:fl-rtsp v6"'));
    assert.ok(lines.includes('ip saddr @seg_plcs_v4 ip daddr @seg_plcs_v4 tcp dport { 502, 20000-20010 } counter accept comment "flow:fl-modbus v4"'));
    assert.ok(lines.includes('ip6 saddr @seg_plcs_v6 ip6 daddr @seg_plcs_v6 tcp dport { 502, 20000-20010 } counter accept comment "flow:fl-modbus v6 reverse"'));
    assert.ok(lines.includes('ip saddr @st_recorders__nvr_v4 ip daddr @seg_plcs_v4 meta l4proto icmp counter accept comment "flow:fl-ping v4"'));
    assert.ok(lines.includes('ip6 saddr @st_recorders__nvr_v6 ip6 daddr @seg_plcs_v6 meta l4proto ipv6-icmp counter accept comment "flow:fl-ping v6"'));
    assert.doesNotMatch(r.text, /fl-video-topic|fl-alerts|fl-cloud/, 'MQTT flows are the gateway\'s');
    assert.equal(r.stats.mqttFlows, 3);
    assert.ok(r.warnings.some((w) => /fl-dns: service nvr\.example\.com has no addresses \(DNS name nvr\.example\.com not resolved\)/.test(w)));
  });

  it('moves quarantined devices to the quarantine set, reaching only the remediation service', () => {
    assert.match(setBody('seg_quarantine_v4'), /elements = \{ 10\.71\.1\.3 \}/);
    assert.match(setBody('seg_quarantine_v6'), /elements = \{ fd71:1::3 \}/);
    assert.doesNotMatch(setBody('seg_cameras_v4'), /10\.71\.1\.3/);
    assert.ok(lines.includes('ip saddr @seg_quarantine_v4 counter jump quarantine_out comment "zeta:quarantine"'));
    assert.ok(lines.includes('ip6 daddr @seg_quarantine_v6 counter jump quarantine_in comment "zeta:quarantine"'));
    const qOut = r.text.slice(r.text.indexOf('chain quarantine_out {'), r.text.indexOf('chain quarantine_in {'));
    assert.deepEqual(qOut.split('\n').map((l) => l.trim()).filter((l) => l.includes('counter')), [
      'ip daddr @svc_remediation_v4 tcp dport 8443 counter accept comment "flow:fl-fix v4"',
      'ip6 daddr @svc_remediation_v6 tcp dport 8443 counter accept comment "flow:fl-fix v6"',
      'counter drop comment "zeta:quarantine-drop"',
    ]);
    assert.ok(lines.includes('ip saddr @svc_remediation_v4 tcp sport 8443 ct state established,related counter accept comment "flow:fl-fix v4 reply"'));
    assert.equal(r.stats.quarantinedDevices, 1);
  });

  it('blocks revoked devices before established traffic, and drops devices of unknown segments', () => {
    assert.match(setBody('blocked_v4'), /elements = \{ 10\.71\.1\.4 \}/);
    assert.doesNotMatch(r.text, /10\.71\.9\.9/);
    assert.ok(r.warnings.some((w) => /device lost-1: segment gone does not exist/.test(w)));
  });

  it('skips (and reports) flows that an edited snapshot made unsafe', () => {
    const bad = compileNftRuleset({
      ...snapshot,
      flows: [flow('fl-x', { from: 'quarantine', to: { kind: 'service', name: 'video-recorder' } }), flow('fl-y', { to: { kind: 'segment', name: 'quarantine' } }), flow('fl-z', { from: 'nowhere' })],
    });
    assert.doesNotMatch(bad.text, /flow:fl-[xyz]/);
    assert.equal(bad.warnings.filter((w) => /fl-[xyz]: .*not rendered/.test(w)).length, 3);
  });

  it('never prints a value it did not canonicalise', () => {
    const evil = compileNftRuleset({
      segments: [seg('cams'), seg('x"; flush ruleset; "')],
      services: [],
      flows: [],
      devices: [{ id: 'd', type: 'camera', segment: 'cams', state: 'active', addresses: ['10.0.0.1 } ; flush ruleset', '10.0.0.2'] }],
    });
    assert.doesNotMatch(evil.text, /flush ruleset/);
    assert.match(evil.text, /elements = \{ 10\.0\.0\.2 \}/);
  });

  it('has a lockdown ruleset that drops everything', () => {
    assert.match(renderLockdownRuleset(), /policy drop;\n\t\tcounter drop comment "zeta:lockdown"/);
  });
});

describe('MQTT compiler', () => {
  const flows = snapshot.flows;
  it('gives an active device its own namespace, its segment, and its MQTT flows', () => {
    const a = compileMqttAccess({ id: 'cam-1', segment: 'cameras', type: 'camera', state: 'active' }, flows);
    assert.deepEqual(a.publish, ['alerts/#', 'devices/cam-1/#', 'video/cameras/cam-1/#'], 'fl-alerts is both-way');
    assert.deepEqual(a.subscribe, ['alerts/#', 'devices/cam-1/#', 'segments/cameras/#']);
    assert.deepEqual(a.flows, ['fl-alerts', 'fl-video-topic']);
    const rec = compileMqttAccess({ id: 'rec-2', segment: 'recorders', type: 'sensor', state: 'active' }, flows);
    assert.ok(rec.subscribe.includes('video/cameras/+/#'), 'the receiving side subscribes for every device of the sending segment');
    assert.ok(!rec.publish.some((p) => p.startsWith('video/')));
    const plc = compileMqttAccess({ id: 'plc-1', segment: 'plcs', type: 'plc', state: 'active' }, flows);
    assert.deepEqual(plc.publish, ['alerts/#', 'devices/plc-1/#']);
  });

  it('honours device-type narrowing', () => {
    const door = compileMqttAccess({ id: 'door-1', segment: 'cameras', type: 'doorbell', state: 'active' }, flows);
    assert.ok(door.publish.includes('uplink/#'));
    const cam = compileMqttAccess({ id: 'cam-1', segment: 'cameras', type: 'camera', state: 'active' }, flows);
    assert.ok(!cam.publish.includes('uplink/#'));
  });

  it('quarantine: nothing but the remediation topic; other non-active states: nothing', () => {
    const q = compileMqttAccess({ id: 'cam-2', segment: 'cameras', type: 'camera', state: 'quarantined' }, flows);
    assert.deepEqual([q.publish, q.subscribe, q.basis], [['devices/cam-2/remediation/#'], ['devices/cam-2/remediation/#'], 'quarantined']);
    assert.deepEqual(compileMqttAccess({ id: 'cam-2', segment: 'quarantine', type: 'camera', state: 'active' }, flows).publish, ['devices/cam-2/remediation/#']);
    for (const state of ['suspended', 'revoked', 'registered', 'decommissioned', 'weird']) {
      const n = compileMqttAccess({ id: 'cam-3', segment: 'cameras', type: 'camera', state }, flows);
      assert.deepEqual([n.publish, n.subscribe], [[], []], state);
    }
    assert.deepEqual(compileMqttAccess({ id: 'a/#', segment: 'cameras', type: 'camera', state: 'active' }, flows).publish, []);
  });

  it('matches topics and narrows filters per MQTT §4.7', () => {
    assert.ok(topicMatchesFilter('a/+/c', 'a/b/c'));
    assert.ok(topicMatchesFilter('a/#', 'a'));
    assert.ok(!topicMatchesFilter('a/+', 'a/b/c'));
    assert.ok(!topicMatchesFilter('#', '$SYS/x'));
    assert.ok(filterWithin('devices/cam-1/#', 'devices/cam-1/#'));
    assert.ok(filterWithin('video/cameras/cam-9/#', 'video/cameras/+/#'));
    assert.ok(!filterWithin('video/#', 'video/cameras/+/#'));
    assert.ok(!filterWithin('video/+/x', 'video/cameras/+/#'));
    const q = compileMqttAccess({ id: 'cam-2', segment: 'cameras', type: 'camera', state: 'quarantined' }, flows);
    assert.ok(mqttAllows(q, 'publish', 'devices/cam-2/remediation/report'));
    assert.ok(!mqttAllows(q, 'publish', 'devices/cam-2/telemetry'));
    assert.ok(!mqttAllows(q, 'subscribe', 'devices/cam-2/#'));
    assert.ok(!mqttAllows(q, 'publish', 'devices/cam-2/remediation/#'));
  });
});
