import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkTopicFilter, checkTopicName, parseSubscriptionFilter, topicClass } from './topics.js';

const b = { maxTopicBytes: 64, maxTopicLevels: 4 };

describe('topic names and filters', () => {
  it('accepts well-formed names and refuses [MQTT-4.7.3-1/2], [MQTT-3.3.2-2] violations and the bounds', () => {
    assert.equal(checkTopicName('a/b/c', b), null);
    assert.equal(checkTopicName('é/ü', b), null);
    for (const bad of ['', 'a/+/c', 'a/#', 'a\u0000b', 'bad\uFFFDutf8', 'x'.repeat(65), 'a/b/c/d/e']) assert.notEqual(checkTopicName(bad, b), null, bad);
  });

  it('checks wildcard placement in filters [MQTT-4.7.1-2/3]', () => {
    for (const ok of ['#', '+', 'a/+/c', 'a/#', '+/+/+/#']) assert.equal(checkTopicFilter(ok, b), null, ok);
    for (const bad of ['a/#/c', 'a#', 'a/b+', '', '#/a']) assert.notEqual(checkTopicFilter(bad, b), null, bad);
  });

  it('unwraps $share/<group>/<filter> so the inner filter is what gets authorized', () => {
    assert.deepEqual(parseSubscriptionFilter('$share/g1/devices/x/#', b), { filter: 'devices/x/#', shareGroup: 'g1' });
    assert.deepEqual(parseSubscriptionFilter('devices/x', b), { filter: 'devices/x', shareGroup: null });
    for (const bad of ['$share/', '$share/g', '$share//x', '$share/g+/x', '$share/g/a#']) assert.ok('error' in parseSubscriptionFilter(bad, b), bad);
  });

  it('topic class is the first level', () => {
    assert.equal(topicClass('devices/x/y'), 'devices');
    assert.equal(topicClass('flat'), 'flat');
  });
});
