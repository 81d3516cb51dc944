/**
 * mqtt-packet behind one narrow seam: a reader that turns one whole frame (from Framer) into one
 * packet or an error, and the writer. Every frame is parsed, even those forwarded byte for byte,
 * so nothing malformed reaches the broker or the device.
 */
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';

export type { Packet } from 'mqtt-packet';

/** MQTT control packet types (MQTT 5.0 §2.1.2, same numbers in 3.1.1). */
export const PT = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15,
} as const;

/**
 * The fields of a PUBLISH the gateway looks at, read straight from the frame (no payload copy, no
 * BufferList): the hot path. One instance per reader, overwritten by the next read — a caller
 * must not keep it past the packet it handles (nothing does: the original frame is forwarded).
 */
class FastPublish {
  readonly cmd = 'publish' as const;
  topic = '';
  qos: 0 | 1 | 2 = 0;
  retain = false;
  dup = false;
  messageId: number | undefined = undefined;
  properties: undefined = undefined;
  #frame: Buffer = EMPTY;
  #payloadAt = 0;
  set(frame: Buffer, payloadAt: number): void {
    this.#frame = frame;
    this.#payloadAt = payloadAt;
  }
  get payload(): Buffer {
    return this.#frame.subarray(this.#payloadAt);
  }
}

/** PUBACK / PUBREC / PUBREL / PUBCOMP without a reason code: fixed 4 bytes. */
class FastAck {
  cmd: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp' = 'puback';
  messageId = 0;
  reasonCode: number | undefined = undefined;
  properties: undefined = undefined;
}

const EMPTY = Buffer.alloc(0);
const ACK_CMDS = [null, null, null, null, 'puback', 'pubrec', 'pubrel', 'pubcomp'] as const;

/**
 * Reads a PUBLISH whose shape is unremarkable (QoS ≤ 2, topic and packet id inside the frame, 5.0
 * with no properties) without mqtt-packet; anything else returns false and goes to the full
 * parser, so the fast path accepts a subset of what mqtt-packet accepts, with the same result.
 */
function fastPublish(frame: Buffer, version: number, out: FastPublish): boolean {
  const b0 = frame[0]!;
  const qos = (b0 >> 1) & 3;
  if (qos === 3) return false;
  let i = 1;
  while (frame[i]! & 0x80) {
    i++;
    if (i > 4) return false;
  }
  i++;
  const n = frame.length;
  if (i + 2 > n) return false;
  const tlen = (frame[i]! << 8) | frame[i + 1]!;
  const tStart = i + 2;
  let p = tStart + tlen;
  if (p > n) return false;
  let mid: number | undefined;
  if (qos > 0) {
    if (p + 2 > n) return false;
    mid = (frame[p]! << 8) | frame[p + 1]!;
    p += 2;
  }
  if (version === 5) {
    // Property Length 0 only; any property (alias, user properties, …) takes the full parser.
    if (p >= n || frame[p] !== 0) return false;
    p += 1;
  }
  out.topic = frame.toString('utf8', tStart, tStart + tlen);
  out.qos = qos as 0 | 1 | 2;
  out.retain = (b0 & 1) !== 0;
  out.dup = (b0 & 8) !== 0;
  out.messageId = mid;
  out.set(frame, p);
  return true;
}

export class PacketReader {
  #parser: ReturnType<typeof mqttPacket.parser> | null = null;
  #version: number | undefined;
  #last: Packet | undefined;
  #err: unknown;
  #pub: FastPublish | null = null;
  #ack: FastAck | null = null;

  constructor(protocolVersion?: number) {
    this.#version = protocolVersion;
  }

  /** The full parser, made on first use: most sessions only ever need the fast path after CONNECT. */
  #full(): ReturnType<typeof mqttPacket.parser> {
    let parser = this.#parser;
    if (parser === null) {
      parser = mqttPacket.parser(this.#version === undefined ? {} : { protocolVersion: this.#version });
      parser.on('packet', (p: Packet) => {
        this.#last = p;
      });
      parser.on('error', (e: unknown) => {
        this.#err = e;
      });
      this.#parser = parser;
    }
    return parser;
  }

  /**
   * Parses exactly one whole frame; throws on anything else. PUBLISH and 4-byte acknowledgements
   * come back as a reused object, valid until the next read on this reader.
   */
  read(frame: Buffer): Packet {
    const type = frame[0]! >> 4;
    const v = this.#version;
    if (v !== undefined) {
      if (type === PT.PUBLISH) {
        const pub = (this.#pub ??= new FastPublish());
        if (fastPublish(frame, v, pub)) return pub as unknown as Packet;
      } else if (type >= PT.PUBACK && type <= PT.PUBCOMP && frame.length === 4 && frame[1] === 2 && (frame[0]! & 0x0f) === (type === PT.PUBREL ? 2 : 0)) {
        const ack = (this.#ack ??= new FastAck());
        ack.cmd = ACK_CMDS[type]!;
        ack.messageId = (frame[2]! << 8) | frame[3]!;
        ack.reasonCode = v === 5 ? 0 : undefined;
        return ack as unknown as Packet;
      }
    }
    this.#last = undefined;
    this.#err = undefined;
    const left = this.#full().parse(frame);
    if (this.#err !== undefined) throw this.#err instanceof Error ? this.#err : new Error(String(this.#err));
    const p = this.#last;
    if (p === undefined || left !== 0) throw new Error('frame is not exactly one packet');
    return p;
  }

  /** The protocol level, once CONNECT told it (enables the fast path; the full parser learns it from CONNECT itself). */
  setVersion(v: number): void {
    this.#version = v;
  }
}

export function encode(p: Packet, protocolVersion: number): Buffer {
  return mqttPacket.generate(p, { protocolVersion });
}
