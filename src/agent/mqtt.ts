/**
 * `zeta agent publish` / `zeta agent subscribe`: MQTT over TLS with the enrolled key and
 * certificate, verifying the gateway against the enrolled CA bundle. The client id is the device id
 * (the gateway binds the session to the certificate anyway).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { ZetaError } from '../common/errors.js';

export interface MqttDeviceOptions {
  /** mqtts://host:8883 */
  server: string;
  /** Directory written by `zeta agent enroll`. */
  dir: string;
  protocolVersion?: 4 | 5;
  connectTimeoutMs?: number;
}

export function deviceIdOf(dir: string): string {
  const cert = new X509Certificate(readFileSync(join(dir, 'cert.pem')));
  const id = (cert.subjectAltName ?? '').match(/\/device\/([a-z0-9._-]+)/)?.[1];
  if (id === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', `${dir}/cert.pem is not a Zeta device certificate`);
  return id;
}

export async function connectDevice(o: MqttDeviceOptions): Promise<{ client: MqttClient; deviceId: string }> {
  const url = new URL(o.server);
  if (url.protocol !== 'mqtts:') throw new ZetaError('ZETA_ERR_VALIDATION', `use an mqtts:// URL for the gateway, got ${o.server}`);
  const deviceId = deviceIdOf(o.dir);
  const opts: IClientOptions = {
    key: readFileSync(join(o.dir, 'key.pem')),
    cert: readFileSync(join(o.dir, 'cert.pem')),
    ca: readFileSync(join(o.dir, 'ca.pem')),
    clientId: deviceId,
    protocolVersion: o.protocolVersion ?? 4,
    reconnectPeriod: 0,
    connectTimeout: o.connectTimeoutMs ?? 10_000,
  };
  const client = mqtt.connect(o.server, opts);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', (e) => { client.end(true); reject(new ZetaError('ZETA_ERR_SERVER', `MQTT connect refused: ${e.message}`, { cause: e })); });
    client.once('close', () => reject(new ZetaError('ZETA_ERR_SERVER', 'the gateway closed the connection (certificate revoked, device not active, or not allowed to connect)')));
  });
  return { client, deviceId };
}

export async function publishOnce(o: MqttDeviceOptions & { topic: string; message: string | Buffer; qos?: 0 | 1 }): Promise<{ deviceId: string; topic: string; qos: number }> {
  const { client, deviceId } = await connectDevice(o);
  try {
    const qos = o.qos ?? 1;
    await new Promise<void>((resolve, reject) => {
      const onClose = (): void => reject(new ZetaError('ZETA_ERR_FORBIDDEN', `publish to ${o.topic} refused: the gateway disconnected (not allowed for this device)`));
      client.once('close', onClose);
      client.publish(o.topic, o.message, { qos }, (err, packet) => {
        client.off('close', onClose);
        const rc = (packet as { reasonCode?: number } | undefined)?.reasonCode;
        if (err !== undefined && err !== null) reject(new ZetaError('ZETA_ERR_FORBIDDEN', `publish to ${o.topic} refused: ${err.message}`));
        else if (rc !== undefined && rc >= 0x80) reject(new ZetaError('ZETA_ERR_FORBIDDEN', `publish to ${o.topic} refused with reason code 0x${rc.toString(16)}`));
        else if (qos === 0) setTimeout(resolve, 50); // no ack at QoS 0: give the gateway a moment to refuse
        else resolve();
      });
    });
    return { deviceId, topic: o.topic, qos: o.qos ?? 1 };
  } finally {
    client.end(true);
  }
}

/** Subscribes and calls onMessage until `count` messages arrived or the signal aborts. */
export async function subscribe(o: MqttDeviceOptions & { filter: string; count?: number; signal?: AbortSignal; onMessage: (topic: string, payload: Buffer) => void }): Promise<{ deviceId: string; received: number }> {
  const { client, deviceId } = await connectDevice(o);
  let received = 0;
  try {
    let granted: { qos: number }[];
    try {
      granted = await client.subscribeAsync(o.filter, { qos: 1 });
    } catch (e) {
      // MQTT.js turns a SUBACK failure code into an error.
      throw new ZetaError('ZETA_ERR_FORBIDDEN', `subscription to ${o.filter} refused by the gateway: ${(e as Error).message}`);
    }
    const refused = granted.filter((g) => g.qos >= 0x80);
    if (refused.length > 0) throw new ZetaError('ZETA_ERR_FORBIDDEN', `subscription to ${o.filter} refused by the gateway (code 0x${refused[0]!.qos.toString(16)})`);
    await new Promise<void>((resolve, reject) => {
      client.on('message', (topic, payload) => {
        received++;
        o.onMessage(topic, payload);
        if (o.count !== undefined && received >= o.count) resolve();
      });
      client.once('close', () => (o.count === undefined || received >= o.count ? resolve() : reject(new ZetaError('ZETA_ERR_SERVER', 'the gateway closed the connection'))));
      o.signal?.addEventListener('abort', () => resolve());
    });
    return { deviceId, received };
  } finally {
    client.end(true);
  }
}
