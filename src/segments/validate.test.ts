import { it, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { ZetaError } from '../common/errors.js';
import { parsePrefix } from './addresses.js';
import { normalizePorts, parseTopicPrefix, type Segment, type Service } from './model.js';
import { buildFlow, buildService, buildSegment, type CatalogView } from './validate.js';

const seg = (name: string): Segment => ({ name, kind: 'other', description: null, builtin: name === 'quarantine', createdAt: '' });
const svc = (name: string, over: Partial<Service> = {}): Service => ({
  name, description: null, addresses: ['10.0.3.2'], dnsName: null, protocol: 'tcp', ports: [[554, 554]], role: null, createdAt: '', ...over,
});
const catalog: CatalogView = {
  segments: new Map(['cameras', 'plcs', 'quarantine'].map((n) => [n, seg(n)])),
  services: new Map([['video-recorder', svc('video-recorder')], ['remediation', svc('remediation', { role: 'remediation', ports: [[8443, 8443]] })]]),
};
const flow = (input: unknown) => buildFlow(input, catalog, 'fl-1', '2026-01-01T00:00:00.000Z', 'manual');
const problems = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (e) {
    const z = e as ZetaError;
    assert.equal(z.code, 'ZETA_ERR_VALIDATION');
    return (z.fields?.problems as string[] | undefined) ?? [z.message];
  }
  assert.fail('expected a validation error');
};

describe('addresses', () => {
  it('canonicalises IPv4 and IPv6 (RFC 5952) and keeps full-length prefixes bare', () => {
    assert.deepEqual(['10.1.2.3', '10.1.2.3/32', '10.1.0.0/16', '2001:DB8:0:0:0:0:0:1', 'fd71:0001::0002/128', '2001:db8::/32', '::ffff:10.0.0.1', '0:0:1:0:0:0:0:0']
      .map((a) => { const p = parsePrefix(a); return 'error' in p ? p.error : p.text; }),
    ['10.1.2.3', '10.1.2.3', '10.1.0.0/16', '2001:db8::1', 'fd71:1::2', '2001:db8::/32', '::ffff:a00:1', '0:0:1::']);
  });

  it('refuses host bits, bad lengths, zones and garbage with a message naming the value', () => {
    const err = (a: string): string => { const p = parsePrefix(a); return 'error' in p ? p.error : 'accepted'; };
    assert.match(err('10.0.0.1/24'), /host bits.*10\.0\.0\.0\/24/);
    assert.match(err('2001:db8::1/32'), /host bits.*2001:db8::\/32/);
    assert.match(err('10.0.0.0/33'), /0-32/);
    assert.match(err('fe80::1%eth0'), /not an IPv4 or IPv6/);
    assert.match(err('10.0.0'), /not an IPv4/);
    assert.match(err('camera.local'), /not an IPv4/);
  });
});

describe('segment and service input', () => {
  it('accepts a segment and refuses names that could not be an nft identifier', () => {
    assert.equal(buildSegment({ name: 'plc.floor-1', kind: 'site' }, 'now').name, 'plc.floor-1');
    assert.ok(problems(() => buildSegment({ name: 'Cameras' }, 'now'))[0]?.startsWith('name:'));
    assert.ok(problems(() => buildSegment({ name: 'a b' }, 'now')).length > 0);
    assert.ok(problems(() => buildSegment({ name: 'x', colour: 'red' }, 'now')).some((p) => /colour|unrecognized/i.test(p)));
  });

  it('collects every service problem: bad CIDR, bad port, ports on icmp', () => {
    const p = problems(() => buildService({ name: 'nvr', addresses: ['10.0.0.1/24', 'nope'], protocol: 'icmp', ports: [0, '90-80'] }, 'now'));
    assert.ok(p.some((x) => /addresses\.0: .*host bits/.test(x)));
    assert.ok(p.some((x) => /addresses\.1: .*not an IPv4/.test(x)));
    assert.ok(p.some((x) => /ports\.0: .*0-0 is invalid/.test(x)));
    assert.ok(p.some((x) => /ports\.1: .*90-80/.test(x)));
    assert.ok(p.some((x) => /only tcp and udp/.test(x)));
    assert.deepEqual(buildService({ name: 'nvr', addresses: ['10.0.3.2', '10.0.3.2'], protocol: 'tcp', ports: [554, '8000-8010', 8005] }, 'now').ports, [[554, 554], [8000, 8010]]);
    assert.match(problems(() => buildService({ name: 'empty' }, 'now'))[0] ?? '', /at least one address/);
  });

  it('normalises port ranges: sorted, overlapping and adjacent merged', () => {
    assert.deepEqual(normalizePorts([[90, 95], [80, 80], [81, 85], [94, 100]]), [[80, 85], [90, 100]]);
  });
});

describe('flows', () => {
  it('accepts a network flow and resolves protocol per target', () => {
    const f = flow({ from: 'cameras', toService: 'video-recorder' });
    assert.equal(f.protocol, null, 'no protocol: the service decides');
    assert.equal(flow({ from: 'cameras', toSegment: 'plcs' }).protocol, 'any');
    assert.deepEqual(flow({ from: 'cameras', toSegment: 'plcs', protocol: 'tcp', ports: [502, '20000-20010'] }).ports, [[502, 502], [20000, 20010]]);
  });

  it('names the missing segment or service', () => {
    const p = problems(() => flow({ from: 'lights', toService: 'nvr' }));
    assert.ok(p.includes('from: segment "lights" does not exist'));
    assert.ok(p.includes('toService: service "nvr" does not exist'));
    assert.ok(problems(() => flow({ from: 'cameras', toSegment: 'plc' })).includes('toSegment: segment "plc" does not exist'));
  });

  it('needs exactly one target; ports only with tcp/udp; ports in range', () => {
    assert.ok(problems(() => flow({ from: 'cameras' })).includes('give exactly one of toSegment or toService'));
    assert.ok(problems(() => flow({ from: 'cameras', toSegment: 'plcs', toService: 'video-recorder' })).includes('give exactly one of toSegment or toService'));
    assert.ok(problems(() => flow({ from: 'cameras', toSegment: 'plcs', protocol: 'icmp', ports: [1] })).some((p) => /only tcp and udp/.test(p)));
    assert.ok(problems(() => flow({ from: 'cameras', toSegment: 'plcs', protocol: 'tcp', ports: [70000] })).some((p) => /1-65535/.test(p)));
    assert.ok(problems(() => flow({ from: 'cameras', toSegment: 'plcs', protocol: 'sctp' })).length > 0);
  });

  it('keeps quarantine one-way towards remediation services only', () => {
    assert.equal(flow({ from: 'quarantine', toService: 'remediation' }).from, 'quarantine');
    assert.ok(problems(() => flow({ from: 'quarantine', toService: 'video-recorder' })).some((p) => /only a service with role "remediation"/.test(p)));
    assert.ok(problems(() => flow({ from: 'quarantine', toSegment: 'plcs' })).some((p) => /only a service with role "remediation"/.test(p)));
    assert.ok(problems(() => flow({ from: 'cameras', toSegment: 'quarantine' })).some((p) => /into the quarantine/.test(p)));
    assert.ok(problems(() => flow({ from: 'quarantine', toService: 'remediation', direction: 'both' })).some((p) => /one-way/.test(p)));
  });

  it('MQTT flows: literal whole-level prefixes, no network match', () => {
    assert.equal(flow({ from: 'cameras', toSegment: 'plcs', mqttTopicPrefix: 'video/events/' }).mqttTopicPrefix, 'video/events');
    assert.ok(problems(() => flow({ from: 'cameras', toSegment: 'plcs', mqttTopicPrefix: 'video/#' })).some((p) => /wildcard/.test(p)));
    assert.ok(problems(() => flow({ from: 'cameras', toSegment: 'plcs', mqttTopicPrefix: '$SYS/x' })).some((p) => /reserved/.test(p)));
    assert.ok(problems(() => flow({ from: 'cameras', toSegment: 'plcs', mqttTopicPrefix: 'a', protocol: 'tcp' })).some((p) => /takes no protocol/.test(p)));
    assert.deepEqual(parseTopicPrefix('a//b'), { error: 'mqttTopicPrefix "a//b" has an empty level' });
    assert.equal(parseTopicPrefix('telemetry/{segment}/{device}'), 'telemetry/{segment}/{device}');
    assert.ok('error' in (parseTopicPrefix('t/{dev}') as object));
  });
});
