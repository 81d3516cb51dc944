import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultDevicePolicy } from './default-policy.js';
import type { DevicePrincipal, GatewayAction, GatewayResource } from './types.js';

const p: DevicePrincipal = Object.freeze({
  type: 'device',
  id: 'cam-1',
  spiffeId: 'spiffe://zeta.test/device/cam-1',
  trustDomain: 'zeta.test',
  certSerialHex: '01',
  segment: 'cams',
  deviceType: 'camera',
  state: 'active',
  attributes: {},
});
const ctx = { now: new Date(0), clientAddress: '127.0.0.1', protocolVersion: 4 };
const policy = defaultDevicePolicy('zeta.test');
const topic = (name: string): GatewayResource => ({ type: 'topic', name });
const filter = (name: string, shareGroup: string | null = null): GatewayResource => ({ type: 'filter', name, shareGroup });

describe('defaultDevicePolicy: the whole matrix', () => {
  const cases: [GatewayAction, GatewayResource, 'allow' | 'deny'][] = [
    ['connect', { type: 'broker' }, 'allow'],
    ['publish', topic('devices/cam-1/temp'), 'allow'],
    ['publish', topic('devices/cam-1'), 'allow'],
    ['publish', topic('devices/cam-10/temp'), 'deny'],
    ['publish', topic('devices/cam-2/temp'), 'deny'],
    ['publish', topic('segments/cams/x'), 'deny'],
    ['publish', topic('$SYS/x'), 'deny'],
    ['publish', topic('other'), 'deny'],
    ['subscribe', filter('devices/cam-1/#'), 'allow'],
    ['subscribe', filter('devices/cam-1/+/x'), 'allow'],
    ['subscribe', filter('segments/cams/#'), 'allow'],
    ['subscribe', filter('devices/cam-1/#', 'g'), 'allow'],
    ['subscribe', filter('#'), 'deny'],
    ['subscribe', filter('+/cam-1/#'), 'deny'],
    ['subscribe', filter('devices/+/#'), 'deny'],
    ['subscribe', filter('devices/#'), 'deny'],
    ['subscribe', filter('segments/+/#'), 'deny'],
    ['subscribe', filter('segments/other/#'), 'deny'],
    ['subscribe', filter('$SYS/#'), 'deny'],
    ['subscribe', topic('devices/cam-1/x'), 'deny'],
    ['receive', topic('devices/cam-1/x'), 'allow'],
    ['receive', topic('segments/cams/alarm'), 'allow'],
    ['receive', topic('segments/other/alarm'), 'deny'],
    ['receive', topic('devices/cam-2/x'), 'deny'],
  ];
  for (const [action, resource, want] of cases) {
    it(`${action} ${resource.type === 'broker' ? '' : resource.name} → ${want}`, () => {
      const d = policy(p, action, resource, ctx);
      assert.equal(d.decision, want);
      assert.ok(d.reasons.length > 0, 'every answer carries a reason');
    });
  }

  it('denies a principal from another trust domain, and a device without a segment its segment topics', () => {
    assert.equal(policy({ ...p, trustDomain: 'evil.test' }, 'connect', { type: 'broker' }, ctx).decision, 'deny');
    assert.equal(policy({ ...p, segment: null }, 'subscribe', filter('segments/cams/#'), ctx).decision, 'deny');
    assert.equal(policy({ ...p, segment: '+' }, 'subscribe', filter('segments/+/#'), ctx).decision, 'deny');
  });
});
