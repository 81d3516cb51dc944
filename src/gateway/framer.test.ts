import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import { Framer, FrameError } from './framer.js';

describe('Framer', () => {
  const pub = mqttPacket.generate({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(200), qos: 0, dup: false, retain: false });

  it('splits packets that arrive byte by byte and back to back', () => {
    const f = new Framer(1024);
    const wire = Buffer.concat([pub, Buffer.from([0xc0, 0x00]), pub]);
    const out: Buffer[] = [];
    for (const byte of wire) {
      f.push(Buffer.from([byte]));
      for (let fr = f.next(); fr !== null; fr = f.next()) out.push(Buffer.from(fr));
    }
    assert.deepEqual(out, [pub, Buffer.from([0xc0, 0x00]), pub]);
    assert.equal(f.buffered, 0);
  });

  it('refuses a packet over the size limit from its header alone', () => {
    const f = new Framer(100);
    f.push(pub.subarray(0, 3));
    assert.throws(() => f.next(), (e: unknown) => e instanceof FrameError && e.kind === 'too_large');
  });

  it('refuses a remaining length longer than four bytes [MQTT-1.5.5-1]', () => {
    const f = new Framer(1 << 28);
    f.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
    assert.throws(() => f.next(), (e: unknown) => e instanceof FrameError && e.kind === 'malformed');
  });
});
