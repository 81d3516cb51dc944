/**
 * An in-memory DeviceStatusSource: for tests, the demo, and a standalone gateway fed by a file or
 * a control-plane push. Unknown devices are refused (lookup returns undefined).
 */
import type { DeviceStatus, DeviceStatusChange, DeviceStatusSource } from './types.js';

export class MemoryDeviceStatusSource implements DeviceStatusSource {
  readonly #devices = new Map<string, DeviceStatus>();
  readonly #revokedSerials = new Set<string>();
  readonly #listeners = new Set<(ev: DeviceStatusChange) => void>();

  /** Adds or replaces a device record and tells live sessions. */
  set(deviceId: string, status: Partial<DeviceStatus> & { state: string }): void {
    this.#devices.set(deviceId, { segment: null, type: 'device', revoked: false, attributes: {}, ...status });
    this.notify({ kind: 'device', subject: deviceId });
  }

  delete(deviceId: string): void {
    this.#devices.delete(deviceId);
    this.notify({ kind: 'device', subject: deviceId });
  }

  /** Revokes one certificate (by serial) of a device. */
  revokeSerial(deviceId: string, serialHex: string): void {
    this.#revokedSerials.add(serialHex.toLowerCase());
    this.notify({ kind: 'revocation', subject: deviceId });
  }

  notify(ev: DeviceStatusChange): void {
    for (const l of this.#listeners) l(ev);
  }

  async lookup(deviceId: string, certSerialHex: string): Promise<DeviceStatus | undefined> {
    const d = this.#devices.get(deviceId);
    if (d === undefined) return undefined;
    return this.#revokedSerials.has(certSerialHex.toLowerCase()) ? { ...d, revoked: true } : { ...d };
  }

  onChange(listener: (ev: DeviceStatusChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/**
 * A MemoryDeviceStatusSource from plain records: usable as a cluster worker factory
 * (`{ module: <this module>, export: 'createMemoryStatusSource', options: { devices } }`).
 */
export function createMemoryStatusSource(options: { devices?: Record<string, Partial<DeviceStatus> & { state: string }> } = {}): MemoryDeviceStatusSource {
  const s = new MemoryDeviceStatusSource();
  for (const [id, st] of Object.entries(options.devices ?? {})) s.set(id, st);
  return s;
}
