/**
 * Passkeys end to end against a software authenticator written here with node:crypto: EC P-256,
 * 'none' attestation at registration, packed-style ES256 assertions (signature over authData ||
 * SHA-256(clientDataJSON), WebAuthn §6.3.3). Registration at first login, login with the passkey,
 * step-up with it; a tampered signature, a replayed challenge and a foreign origin are refused.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { startTestServer, type TestServer } from './helpers.js';
import { createOperator, https, cookieFrom, totpNow, type HttpResult } from './iam-helpers.js';

// ---- minimal CBOR (RFC 8949) encoder: unsigned/negative ints, byte and text strings, maps ----
function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 256) return Buffer.from([(major << 5) | 24, n]);
  const b = Buffer.alloc(3); b[0] = (major << 5) | 25; b.writeUInt16BE(n, 1); return b;
}
type Cbor = number | string | Buffer | Map<Cbor, Cbor>;
function cbor(v: Cbor): Buffer {
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === 'string') { const s = Buffer.from(v, 'utf8'); return Buffer.concat([head(3, s.length), s]); }
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  return Buffer.concat([head(5, v.size), ...[...v].flatMap(([k, x]) => [cbor(k), cbor(x)])]);
}

const b64u = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

class SoftAuthenticator {
  readonly credId = randomBytes(32);
  readonly #key: { privateKey: KeyObject; publicKey: KeyObject } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  #count = 0;
  constructor(readonly origin: string, readonly rpId: string) {}

  #clientData(type: string, challenge: string, origin = this.origin): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  register(options: { challenge: string }): Record<string, unknown> {
    const jwk = this.#key.publicKey.export({ format: 'jwk' });
    // COSE_Key (RFC 9053 §7.1.1): kty EC2, alg ES256, crv P-256, x, y.
    const cose = cbor(new Map<Cbor, Cbor>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]));
    const idLen = Buffer.alloc(2); idLen.writeUInt16BE(this.credId.length);
    const authData = Buffer.concat([createHash('sha256').update(this.rpId).digest(), Buffer.from([0x45]), Buffer.alloc(4), Buffer.alloc(16), idLen, this.credId, cose]);
    const attObj = cbor(new Map<Cbor, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    return { id: b64u(this.credId), rawId: b64u(this.credId), type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: b64u(this.#clientData('webauthn.create', options.challenge)), attestationObject: b64u(attObj), transports: ['internal'] } };
  }

  assert(options: { challenge: string }, o: { origin?: string; tamper?: boolean } = {}): Record<string, unknown> {
    const counter = Buffer.alloc(4); counter.writeUInt32BE(++this.#count);
    const authData = Buffer.concat([createHash('sha256').update(this.rpId).digest(), Buffer.from([0x05]), counter]);
    const clientData = this.#clientData('webauthn.get', options.challenge, o.origin);
    const sig = sign('sha256', Buffer.concat([authData, createHash('sha256').update(clientData).digest()]), this.#key.privateKey);
    if (o.tamper === true) sig.writeUInt8(sig.readUInt8(sig.length - 1) ^ 1, sig.length - 1);
    return { id: b64u(this.credId), rawId: b64u(this.credId), type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: b64u(clientData), authenticatorData: b64u(authData), signature: b64u(sig) } };
  }
}

describe('WebAuthn passkeys', () => {
  let s: TestServer;
  let ca: Buffer;
  let key: SoftAuthenticator;
  const call = (method: string, path: string, o: Parameters<typeof https>[4] = {}): Promise<HttpResult> => https(s.h.apiUrl, ca, method, path, o);

  before(async () => {
    s = await startTestServer();
    ca = readFileSync(s.caBundlePath);
    key = new SoftAuthenticator(s.cp.iam.publicUrl, new URL(s.cp.iam.publicUrl).hostname);
    await createOperator(s, { username: 'pat', role: 'secops', password: 'pat-long-password' });
  });
  after(async () => { await s?.close(); });

  const login = async (): Promise<string> => {
    const l = await call('POST', '/api/v1/auth/login', { body: { username: 'pat', password: 'pat-long-password' } });
    assert.equal(l.status, 200, l.body);
    return cookieFrom(l, '__Host-zeta_pre')!;
  };

  it('registers a passkey at first login, which completes the login', async () => {
    const pre = await login();
    const opts = await call('POST', '/api/v1/auth/webauthn/register/options', { cookie: pre, body: {} });
    assert.equal(opts.status, 200, opts.body);
    const o = opts.json<{ challenge: string; rp: { id: string }; attestation: string }>();
    assert.equal(o.rp.id, 'localhost');
    const res = await call('POST', '/api/v1/auth/webauthn/register/verify', { cookie: pre, body: { response: key.register(o), name: 'soft key' } });
    assert.equal(res.status, 200, res.body);
    const body = res.json<{ id: string; name: string; csrfToken: string; recoveryCodes: string[] }>();
    assert.equal(body.name, 'soft key');
    assert.equal(body.recoveryCodes.length, 10);
    const cookie = cookieFrom(res, '__Host-zeta_session')!;
    const me = await call('GET', '/api/v1/auth/me', { cookie });
    assert.deepEqual(me.json<{ mfa: unknown }>().mfa, { totp: false, passkeys: 1 });
  });

  it('logs in with the passkey; refuses a tampered signature, a replayed challenge and a foreign origin', async () => {
    let pre = await login();
    assert.deepEqual((await call('POST', '/api/v1/auth/login', { body: { username: 'pat', password: 'pat-long-password' } })).json(), { stage: 'mfa', methods: ['webauthn', 'recovery'] });
    pre = await login();
    const o1 = (await call('POST', '/api/v1/auth/webauthn/options', { cookie: pre, body: {} })).json<{ challenge: string; allowCredentials: { id: string }[] }>();
    assert.deepEqual(o1.allowCredentials.map((c) => c.id), [b64u(key.credId)]);
    const tampered = await call('POST', '/api/v1/auth/webauthn/verify', { cookie: pre, body: { response: key.assert(o1, { tamper: true }) } });
    assert.equal(tampered.status, 401);
    assert.equal(tampered.json().code, 'ZETA_ERR_WEBAUTHN');
    // The challenge was consumed by the failed attempt: the same options cannot be used again.
    const replay = await call('POST', '/api/v1/auth/webauthn/verify', { cookie: pre, body: { response: key.assert(o1) } });
    assert.equal(replay.status, 401);
    const o2 = (await call('POST', '/api/v1/auth/webauthn/options', { cookie: pre, body: {} })).json<{ challenge: string }>();
    assert.equal((await call('POST', '/api/v1/auth/webauthn/verify', { cookie: pre, body: { response: key.assert(o2, { origin: 'https://evil.example' }) } })).status, 401);
    const o3 = (await call('POST', '/api/v1/auth/webauthn/options', { cookie: pre, body: {} })).json<{ challenge: string }>();
    const ok = await call('POST', '/api/v1/auth/webauthn/verify', { cookie: pre, body: { response: key.assert(o3) } });
    assert.equal(ok.status, 200, ok.body);
    assert.ok(cookieFrom(ok, '__Host-zeta_session') !== undefined);
    const refused = await s.cp.audit.list({ subject: 'pat', action: 'auth.mfa', limit: 10 });
    assert.ok(refused.length >= 2 && refused.every((e) => e.outcome === 'refused'));
    await s.cp.iam.operators.unlock('pat', 'test');
  });

  it('steps up with the passkey', async () => {
    const pre = await login();
    const o = (await call('POST', '/api/v1/auth/webauthn/options', { cookie: pre, body: {} })).json<{ challenge: string }>();
    const ok = await call('POST', '/api/v1/auth/webauthn/verify', { cookie: pre, body: { response: key.assert(o) } });
    const cookie = cookieFrom(ok, '__Host-zeta_session')!;
    const csrf = ok.json<{ csrfToken: string }>().csrfToken;
    const so = await call('POST', '/api/v1/auth/step-up/options', { cookie, csrf, body: {} });
    assert.equal(so.status, 200, so.body);
    const up = await call('POST', '/api/v1/auth/step-up', { cookie, csrf, body: { response: key.assert(so.json<{ challenge: string }>()) } });
    assert.equal(up.status, 200, up.body);
    assert.ok(typeof up.json().stepUpUntil === 'string');
    // From the session, TOTP can be added beside the passkey (the recovery codes stay the same).
    const setup = await call('POST', '/api/v1/auth/totp/setup', { cookie, csrf, body: {} });
    assert.equal(setup.status, 200, setup.body);
    const secret = setup.json<{ secret: string }>().secret;
    const confirm = await call('POST', '/api/v1/auth/totp', { cookie, csrf, body: { code: await totpNow(secret) } });
    assert.equal(confirm.status, 200, confirm.body);
    assert.equal(confirm.json().recoveryCodes, undefined);
    assert.equal(cookieFrom(confirm, '__Host-zeta_session'), undefined, 'the session id does not change');
    assert.deepEqual((await call('GET', '/api/v1/auth/me', { cookie })).json<{ mfa: unknown }>().mfa, { totp: true, passkeys: 1 });
  });
});
