/**
 * One interface, two ways to reach the control plane: the data directory directly (`--data`, the
 * same ControlPlane `zeta serve` runs, so the audit entry and change-feed row are identical) or a
 * running server (`--server` + API token). Commands are written once against this.
 */
import type { ZetaConfig } from '../common/config.js';
import { ControlPlane, loadPdp } from '../api/index.js';
import { parsePolicySet, whatIf, analyzePolicySet, deviceEntity, type MqttAction } from '../policy/index.js';
import type { DeviceFilter } from '../inventory/index.js';
import { apiCall, type ClientOptions } from './client.js';

export interface Backend {
  listDevices(f: DeviceFilter): Promise<{ devices: unknown[]; total: number }>;
  addDevice(input: Record<string, unknown>): Promise<Record<string, unknown>>;
  getDevice(id: string): Promise<Record<string, unknown>>;
  updateDevice(id: string, patch: Record<string, unknown>): Promise<unknown>;
  lifecycle(id: string, op: 'suspend' | 'resume' | 'quarantine' | 'decommission', reason?: string): Promise<unknown>;
  revoke(id: string, reason: string): Promise<unknown>;
  newToken(id: string): Promise<unknown>;
  importDevices(records: unknown[], onProgress?: (d: number, t: number) => void): Promise<{ imported: number; tokens: { id: string; enrollmentToken: string }[]; tokenExpiresAt: string }>;
  auditVerify(): Promise<{ ok: boolean } & Record<string, unknown>>;
  auditExport(write: (line: string) => void): Promise<number>;
  caInfo(): Promise<unknown>;
  caRotate(): Promise<unknown>;
  createApiToken(name: string, role: string, expiresInDays?: number): Promise<unknown>;
  listApiTokens(): Promise<unknown>;
  revokeApiToken(id: string): Promise<void>;
  policyApply(text: string, comment?: string): Promise<unknown>;
  policyCheck(device: string, action: string, topic?: string): Promise<unknown>;
  policyWhatIf(text: string): Promise<unknown>;
  policyShow(): Promise<unknown>;
  policyHistory(): Promise<unknown>;
  policyAnalysis(): Promise<unknown>;
  policyShadow(text: string | null): Promise<unknown>;
  segmentsList(): Promise<unknown>;
  segmentAdd(input: Record<string, unknown>): Promise<unknown>;
  segmentRemove(name: string): Promise<void>;
  serviceAdd(input: Record<string, unknown>): Promise<unknown>;
  flowAdd(input: Record<string, unknown>): Promise<unknown>;
  flowRemove(id: string): Promise<void>;
  deviceAddresses(id: string, addresses: string[]): Promise<unknown>;
  mudImport(mud: string, mapping: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

export class LocalBackend implements Backend {
  readonly cp: ControlPlane;
  readonly #actor: string;

  private constructor(cp: ControlPlane, actor: string) {
    this.cp = cp;
    this.#actor = actor;
  }

  static async open(config: ZetaConfig): Promise<LocalBackend> {
    const user = process.env.SUDO_USER ?? process.env.USER ?? 'unknown';
    return new LocalBackend(await ControlPlane.open(config), `cli:${user}`);
  }

  listDevices(f: DeviceFilter): Promise<{ devices: unknown[]; total: number }> { return this.cp.inventory.list(f); }
  async addDevice(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const r = await this.cp.inventory.add(input, this.#actor);
    return { ...r.device, enrollmentToken: r.enrollmentToken, tokenExpiresAt: r.tokenExpiresAt };
  }
  async getDevice(id: string): Promise<Record<string, unknown>> { return { ...(await this.cp.inventory.get(id)) }; }
  updateDevice(id: string, patch: Record<string, unknown>): Promise<unknown> { return this.cp.inventory.update(id, patch, this.#actor); }
  lifecycle(id: string, op: 'suspend' | 'resume' | 'quarantine' | 'decommission', reason?: string): Promise<unknown> {
    const inv = this.cp.inventory;
    switch (op) {
      case 'suspend': return inv.suspend(id, this.#actor, reason);
      case 'quarantine': return inv.quarantine(id, this.#actor, reason);
      case 'resume': return inv.resume(id, this.#actor);
      case 'decommission': return inv.decommission(id, this.#actor);
    }
  }
  revoke(id: string, reason: string): Promise<unknown> { return this.cp.inventory.revoke(id, reason, this.#actor); }
  newToken(id: string): Promise<unknown> { return this.cp.inventory.newEnrollmentToken(id, this.#actor); }
  importDevices(records: unknown[], onProgress?: (d: number, t: number) => void): ReturnType<Backend['importDevices']> {
    return this.cp.inventory.importDevices(records, this.#actor, onProgress);
  }
  auditVerify(): ReturnType<Backend['auditVerify']> { return this.cp.audit.verify() as unknown as ReturnType<Backend['auditVerify']>; }
  auditExport(write: (line: string) => void): Promise<number> { return this.cp.audit.export(write); }
  async caInfo(): Promise<unknown> {
    const a = this.cp.authority;
    return {
      trustDomain: this.cp.config.trustDomain,
      root: { id: a.root.id, fingerprintSha256: a.rootFingerprint, notAfter: a.root.row.not_after },
      issuing: a.verifyingIssuers.map((i) => ({ id: i.id, status: i.row.status, notAfter: i.row.not_after })),
    };
  }
  caRotate(): Promise<unknown> { return this.cp.authority.rotateIssuing(this.#actor); }
  async createApiToken(name: string, role: string, expiresInDays?: number): Promise<unknown> {
    const r = await this.cp.tokens.create({ name, role, ...(expiresInDays === undefined ? {} : { expiresInDays }) }, this.#actor);
    return { ...r.info, token: r.token };
  }
  listApiTokens(): Promise<unknown> { return this.cp.tokens.list(); }
  revokeApiToken(id: string): Promise<void> { return this.cp.tokens.revoke(id, this.#actor); }
  policyApply(text: string, comment?: string): Promise<unknown> { return this.cp.policies.apply(text, this.#actor, comment); }
  async policyCheck(device: string, action: string, topic?: string): Promise<unknown> {
    const pdp = await loadPdp(this.cp);
    return { device, action, topic: topic ?? null, ...pdp.decide({ principal: device, action: action as MqttAction, ...(topic === undefined ? {} : { topic }) }) };
  }
  async policyWhatIf(text: string): Promise<unknown> {
    const proposed = parsePolicySet(text);
    const current = await this.cp.policies.active();
    const devices = [];
    for (let offset = 0; ; offset += 10_000) {
      const page = await this.cp.inventory.list({ limit: 10_000, offset });
      devices.push(...page.devices.map(deviceEntity));
      if (page.devices.length < 10_000) break;
    }
    return { currentVersion: current?.version ?? null, ...whatIf(current?.set, proposed, devices, { maxListed: 1000 }) };
  }
  async policyShow(): Promise<unknown> {
    const a = await this.cp.policies.active();
    const sh = await this.cp.policies.shadow();
    return {
      active: a === undefined ? null : { version: a.version, sha256: a.set.sha256, policies: Object.keys(a.set.policies), text: a.set.text },
      shadow: sh === undefined ? null : { version: sh.version, sha256: sh.set.sha256, policies: Object.keys(sh.set.policies) },
    };
  }
  async policyHistory(): Promise<unknown> { return { versions: await this.cp.policies.history() }; }
  async policyAnalysis(): Promise<unknown> {
    const a = await this.cp.policies.active();
    return { version: a?.version ?? null, findings: a === undefined ? [] : analyzePolicySet(a.set) };
  }
  policyShadow(text: string | null): Promise<unknown> { return this.cp.policies.setShadow(text, this.#actor); }
  async segmentsList(): Promise<unknown> {
    const g = this.cp.segments;
    return { segments: await g.listSegments(), services: await g.listServices(), flows: await g.listFlows() };
  }
  segmentAdd(input: Record<string, unknown>): Promise<unknown> { return this.cp.segments.addSegment(input, this.#actor); }
  segmentRemove(name: string): Promise<void> { return this.cp.segments.removeSegment(name, this.#actor); }
  serviceAdd(input: Record<string, unknown>): Promise<unknown> { return this.cp.segments.addService(input, this.#actor); }
  flowAdd(input: Record<string, unknown>): Promise<unknown> { return this.cp.segments.addFlow(input, this.#actor); }
  flowRemove(id: string): Promise<void> { return this.cp.segments.removeFlow(id, this.#actor); }
  async deviceAddresses(id: string, addresses: string[]): Promise<unknown> { return { id, addresses: await this.cp.segments.setDeviceAddresses(id, addresses, this.#actor) }; }
  mudImport(mud: string, mapping: Record<string, unknown>): Promise<unknown> { return this.cp.segments.importMud(mud, mapping, this.#actor); }
  close(): Promise<void> { return this.cp.close(); }
}

export class RemoteBackend implements Backend {
  readonly #c: ClientOptions;
  constructor(c: ClientOptions) {
    this.#c = c;
  }
  #call<T>(method: string, path: string, body?: unknown, ct?: string, headers?: Record<string, string>): Promise<T> {
    return apiCall<T>(this.#c, method, path, body, ct, headers);
  }
  listDevices(f: DeviceFilter): Promise<{ devices: unknown[]; total: number }> {
    const qs = new URLSearchParams(Object.entries(f).filter(([, v]) => v !== undefined).map(([k, v]): [string, string] => [k, String(v)]));
    return this.#call('GET', `/api/v1/devices?${qs.toString()}`);
  }
  addDevice(input: Record<string, unknown>): Promise<Record<string, unknown>> { return this.#call('POST', '/api/v1/devices', input); }
  getDevice(id: string): Promise<Record<string, unknown>> { return this.#call('GET', `/api/v1/devices/${encodeURIComponent(id)}`); }
  updateDevice(id: string, patch: Record<string, unknown>): Promise<unknown> { return this.#call('PATCH', `/api/v1/devices/${encodeURIComponent(id)}`, patch); }
  lifecycle(id: string, op: string, reason?: string): Promise<unknown> {
    return this.#call('POST', `/api/v1/devices/${encodeURIComponent(id)}/${op}`, reason === undefined ? {} : { reason });
  }
  revoke(id: string, reason: string): Promise<unknown> { return this.#call('POST', `/api/v1/devices/${encodeURIComponent(id)}/revoke`, { reason }); }
  newToken(id: string): Promise<unknown> { return this.#call('POST', `/api/v1/devices/${encodeURIComponent(id)}/enrollment-token`, {}); }
  async importDevices(records: unknown[], onProgress?: (d: number, t: number) => void): ReturnType<Backend['importDevices']> {
    onProgress?.(0, records.length);
    const r = await this.#call<Awaited<ReturnType<Backend['importDevices']>>>('POST', '/api/v1/devices/import', records);
    onProgress?.(records.length, records.length);
    return r;
  }
  auditVerify(): ReturnType<Backend['auditVerify']> { return this.#call('GET', '/api/v1/audit/verify'); }
  async auditExport(write: (line: string) => void): Promise<number> {
    const text = await this.#call<string>('GET', '/api/v1/audit/export');
    const lines = String(text).split('\n').filter((l) => l !== '');
    lines.forEach(write);
    return lines.length;
  }
  caInfo(): Promise<unknown> { return this.#call('GET', '/api/v1/ca'); }
  caRotate(): Promise<unknown> { return this.#call('POST', '/api/v1/ca/rotate', {}); }
  createApiToken(name: string, role: string, expiresInDays?: number): Promise<unknown> {
    return this.#call('POST', '/api/v1/tokens', { name, role, ...(expiresInDays === undefined ? {} : { expiresInDays }) });
  }
  listApiTokens(): Promise<unknown> { return this.#call('GET', '/api/v1/tokens'); }
  async revokeApiToken(id: string): Promise<void> { await this.#call('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`); }
  policyApply(text: string, comment?: string): Promise<unknown> {
    return this.#call('POST', '/api/v1/policies', text, 'text/plain', comment === undefined ? {} : { 'x-zeta-comment': comment });
  }
  policyCheck(device: string, action: string, topic?: string): Promise<unknown> { return this.#call('POST', '/api/v1/policies/check', { device, action, ...(topic === undefined ? {} : { topic }) }); }
  policyWhatIf(text: string): Promise<unknown> { return this.#call('POST', '/api/v1/policies/what-if', text, 'text/plain'); }
  policyShow(): Promise<unknown> { return this.#call('GET', '/api/v1/policies'); }
  policyHistory(): Promise<unknown> { return this.#call('GET', '/api/v1/policies/history'); }
  policyAnalysis(): Promise<unknown> { return this.#call('GET', '/api/v1/policies/analysis'); }
  policyShadow(text: string | null): Promise<unknown> { return this.#call('POST', '/api/v1/policies/shadow', text ?? ' ', 'text/plain'); }
  segmentsList(): Promise<unknown> { return this.#call('GET', '/api/v1/segments'); }
  segmentAdd(input: Record<string, unknown>): Promise<unknown> { return this.#call('POST', '/api/v1/segments', input); }
  async segmentRemove(name: string): Promise<void> { await this.#call('DELETE', `/api/v1/segments/${encodeURIComponent(name)}`); }
  serviceAdd(input: Record<string, unknown>): Promise<unknown> { return this.#call('POST', '/api/v1/services', input); }
  flowAdd(input: Record<string, unknown>): Promise<unknown> { return this.#call('POST', '/api/v1/flows', input); }
  async flowRemove(id: string): Promise<void> { await this.#call('DELETE', `/api/v1/flows/${encodeURIComponent(id)}`); }
  deviceAddresses(id: string, addresses: string[]): Promise<unknown> { return this.#call('PUT', `/api/v1/devices/${encodeURIComponent(id)}/addresses`, { addresses }); }
  mudImport(mud: string, mapping: Record<string, unknown>): Promise<unknown> { return this.#call('POST', '/api/v1/segments/mud', { mud, mapping }); }
  async close(): Promise<void> { /* nothing held */ }
}
