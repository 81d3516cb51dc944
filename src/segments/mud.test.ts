import { it, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ZetaError } from '../common/errors.js';
import { parseMud, MUD_LIMITS, type MudMapping } from './mud.js';

const FIXTURE = readFileSync(new URL('./testdata/camera-x200.mud.json', import.meta.url), 'utf8');
const mapping: MudMapping = {
  segment: 'cameras',
  deviceType: 'camera',
  controllers: { 'https://controller.example-cams.com/fleet': { service: 'fleet-controller' } },
  localNetworks: { segment: 'operators' },
};

function mutate(fn: (doc: Record<string, any>) => void): string { // eslint-disable-line @typescript-eslint/no-explicit-any -- test edits arbitrary JSON paths
  const doc = JSON.parse(FIXTURE) as Record<string, unknown>;
  fn(doc);
  return JSON.stringify(doc);
}

function refused(text: string | Uint8Array, re: RegExp): void {
  assert.throws(() => parseMud(text, mapping), (e: ZetaError) => {
    assert.equal(e.code, 'ZETA_ERR_MUD_INVALID');
    assert.match(e.message, re);
    return true;
  });
}

describe('MUD (RFC 8520) parsing', () => {
  it('maps the camera profile: flows for what it can express, the rest reported', () => {
    const r = parseMud(FIXTURE, mapping);
    assert.equal(r.mudUrl, 'https://mud.example-cams.com/x200/camera-x200.json');
    assert.equal(r.mfgName, 'Example Cams');
    const flows = r.flows.map((f) => ({ ...f, description: undefined }));
    assert.deepEqual(flows, [
      { from: 'cameras', toService: 'nvr.example-cams.com', protocol: 'tcp', ports: [554], fromDeviceType: 'camera', description: undefined },
      { from: 'cameras', toService: 'pool.ntp.org', protocol: 'udp', ports: [123], fromDeviceType: 'camera', description: undefined },
      { from: 'cameras', toSegment: 'operators', protocol: 'udp', ports: [53], fromDeviceType: 'camera', description: undefined },
      { from: 'cameras', toService: 'fleet-controller', protocol: 'tcp', ports: ['8883-8884'], fromDeviceType: 'camera', description: undefined },
      { from: 'cameras', toService: 'net-2001_db8_50___48', protocol: 'tcp', ports: [443], fromDeviceType: 'camera', description: undefined },
      { from: 'operators', toSegment: 'cameras', protocol: 'tcp', ports: [80], toDeviceType: 'camera', description: undefined },
      { from: 'operators', toSegment: 'cameras', protocol: 'icmp', toDeviceType: 'camera', description: undefined },
    ]);
    // DNS names and literal networks become named services; the controller was mapped to an existing one.
    assert.deepEqual(r.services.map((s) => [s.name, s.dnsName ?? null, s.addresses ?? []]), [
      ['nvr.example-cams.com', 'nvr.example-cams.com', []],
      ['pool.ntp.org', 'pool.ntp.org', []],
      ['net-2001_db8_50___48', null, ['2001:db8:50::/48']],
    ]);
    const unmapped = Object.fromEntries(r.unmapped.map((u) => [`${u.acl}/${u.ace}`, u.reason]));
    assert.deepEqual(Object.keys(unmapped).sort(), ['mud-x200-v4fr/mfg0-frdev', 'mud-x200-v4fr/qos0-frdev', 'mud-x200-v4to/deny0-todev', 'mud-x200-v4to/push0-todev']);
    assert.match(unmapped['mud-x200-v4fr/mfg0-frdev']!, /same-manufacturer is not mapped/);
    assert.match(unmapped['mud-x200-v4fr/qos0-frdev']!, /dscp/);
    assert.match(unmapped['mud-x200-v4to/push0-todev']!, /flows start at a segment/);
    assert.match(unmapped['mud-x200-v4to/deny0-todev']!, /drop entry/);
    const covered = r.covered.map((c) => `${c.acl}/${c.ace}`).sort();
    assert.deepEqual(covered, ['mud-x200-v4fr/web0-frdev', 'mud-x200-v4to/ntp0-todev', 'mud-x200-v4to/nvr0-todev', 'mud-x200-v6fr/nvr0-frdev']);
  });

  it('maps more once the operator maps more abstractions (same-manufacturer)', () => {
    const r = parseMud(FIXTURE, { ...mapping, sameManufacturer: { segment: 'cameras' } });
    assert.ok(r.flows.some((f) => f.toSegment === 'cameras' && f.from === 'cameras' && (f.ports ?? [])[0] === 7000));
    assert.equal(r.unmapped.length, 3);
  });

  it('never half-maps an entry: an unmapped controller leaves the whole entry out', () => {
    const r = parseMud(FIXTURE, { segment: 'cameras' });
    assert.ok(!r.flows.some((f) => f.toService === 'fleet-controller'));
    assert.ok(r.unmapped.some((u) => u.ace === 'ctl0-frdev' && /controller https:\/\/controller\.example-cams\.com\/fleet is not mapped/.test(u.reason)));
    assert.ok(r.unmapped.some((u) => u.ace === 'dns0-frdev' && /local-networks is not mapped/.test(u.reason)));
  });

  it('refuses malformed files with a message naming the problem', () => {
    refused('{"ietf-mud:mud": ', /not valid JSON/);
    refused('[]', /top level must be a JSON object/);
    refused('{}', /missing "ietf-mud:mud"/);
    refused(mutate((d) => { d['ietf-mud:mud']['mud-version'] = 2; }), /mud-version must be 1/);
    refused(mutate((d) => { d['ietf-mud:mud']['mud-url'] = 'http://mud.example-cams.com/x.json'; }), /https URL/);
    refused(mutate((d) => { delete d['ietf-mud:mud']['is-supported']; }), /is-supported/);
    refused(mutate((d) => { d['ietf-mud:mud']['cache-validity'] = 500; }), /cache-validity/);
    refused(mutate((d) => { d['ietf-mud:mud']['to-device-policy']['access-lists']['access-list'][0].name = 'nope'; }), /names ACL nope, which is not/);
    refused(mutate((d) => { d['ietf-access-control-list:acls'].acl[0].aces.ace[0].matches.tcp['destination-port'].port = 70000; }), /port number 0-65535/);
    refused(mutate((d) => { d['ietf-access-control-list:acls'].acl[0].aces.ace[0].matches.ipv4.protocol = 17; }), /contradicts/);
    refused(mutate((d) => { d['ietf-access-control-list:acls'].acl[0].aces.ace[0].actions.forwarding = 'maybe'; }), /forwarding must be/);
    refused(mutate((d) => { d['ietf-access-control-list:acls'].acl[1].name = 'mud-x200-v4fr'; }), /appears twice/);
    refused(mutate((d) => { d['ietf-access-control-list:acls'].acl[0].aces.ace[1].matches.udp['ietf-mud:direction-initiated'] = 'from-device'; }), /tcp only/);
    refused(new Uint8Array([0x7b, 0xff, 0x7d]), /not valid JSON/);
  });

  it('looks mappings up by own property only', () => {
    const text = mutate((d) => { d['ietf-access-control-list:acls'].acl[0].aces.ace[0].matches.ipv4['ietf-acldns:dst-dnsname'] = 'constructor'; });
    const r = parseMud(text, { ...mapping, dnsServices: {} });
    assert.deepEqual(r.flows[0]?.toService, 'constructor');
    assert.equal(r.services[0]?.dnsName, 'constructor');
  });

  it('bounds size, depth and width before interpreting anything', () => {
    refused(' '.repeat(MUD_LIMITS.bytes + 1), /limit is/);
    refused(mutate((d) => { let x: Record<string, unknown> = d; for (let i = 0; i < 40; i++) { x.n = {}; x = x.n as Record<string, unknown>; } }), /nested deeper/);
    refused(mutate((d) => { d.pad = Array.from({ length: MUD_LIMITS.nodes }, () => 0); }), /JSON values/);
    refused(mutate((d) => { d['ietf-mud:mud'].systeminfo = 'x'.repeat(MUD_LIMITS.stringChars + 1); }), /string longer/);
  });
});
