import { createHash, randomBytes, timingSafeEqual, type X509Certificate } from 'node:crypto';
import { isZetaError } from '../common/errors.js';
import { makeCredential, type Credential } from './credential.js';
import { verifyEkCertificate } from './ek-chain.js';
import { refuse, type Refusal } from './refusal.js';
import { akAttributeProblems, parseTpmPublic, type TpmPublic } from './tpm-public.js';

/** How long a device has to answer a credential challenge. */
export const ACTIVATION_TTL_MS = 5 * 60 * 1000;

/**
 * How the EK is trusted: by its certificate chain to a configured manufacturer root, or because
 * an operator registered this exact EK (TPMs without EK certificates, simulators in tests).
 */
export type EkTrust = { readonly kind: 'manufacturer-chain'; readonly root: string } | { readonly kind: 'pinned-ek' };

export interface ActivationRequest {
  /** The EK as TPM2B_PUBLIC (what tpm2_createek -u writes). */
  readonly ekPublic: Buffer;
  readonly ekCert?: Buffer | X509Certificate;
  readonly ekIntermediates?: readonly (Buffer | X509Certificate)[];
  /** The AK as TPM2B_PUBLIC. */
  readonly akPublic: Buffer;
  readonly manufacturerRoots: readonly (Buffer | X509Certificate)[];
  /** Operator-registered EK names (hex nameAlg||digest) trusted without a certificate. */
  readonly pinnedEkNames?: readonly string[];
  readonly at: Date;
}

/** Server-side state of one challenge: keep it until the device answers, never send it. */
export interface PendingActivation {
  readonly akName: string;
  readonly akPublic: Buffer;
  readonly ekName: string;
  readonly ekTrust: EkTrust;
  readonly secretHash: Buffer;
  readonly expiresAt: Date;
}

export type ActivationChallenge = { readonly ok: true; readonly credential: Credential; readonly pending: PendingActivation } | Refusal;

/** An AK proven to live in the same TPM as a trusted EK: what verifyAttestation accepts as TPM-resident. */
export interface BoundAk {
  readonly akName: string;
  /** TPMT_PUBLIC of the AK. */
  readonly akPublic: Buffer;
  readonly ekName: string;
  readonly ekTrust: EkTrust;
  readonly boundAt: Date;
}

function parse(buf: Buffer, what: string): TpmPublic | Refusal {
  try {
    return parseTpmPublic(buf);
  } catch (e) {
    if (isZetaError(e)) return refuse('malformed', `${what}: ${e.message}`);
    throw e;
  }
}

/**
 * Step 1 of AK enrollment (TPM 2.0 Part 1 §24; the TCG "EK credential" flow): trust the EK, check
 * the AK is a restricted TPM key, and encrypt a fresh secret to the EK bound to the AK's name.
 */
export function startAkActivation(req: ActivationRequest): ActivationChallenge {
  const ek = parse(req.ekPublic, 'EK');
  if ('ok' in ek) return ek;
  const ak = parse(req.akPublic, 'AK');
  if ('ok' in ak) return ak;
  const ekName = ek.name.toString('hex');
  let ekTrust: EkTrust;
  if (req.ekCert !== undefined) {
    const chain = verifyEkCertificate({ ekCert: req.ekCert, intermediates: req.ekIntermediates ?? [], roots: req.manufacturerRoots, ekPublic: ek, at: req.at });
    if (!chain.ok) return chain;
    ekTrust = { kind: 'manufacturer-chain', root: chain.root.subject };
  } else if (req.pinnedEkNames?.includes(ekName) === true) {
    ekTrust = { kind: 'pinned-ek' };
  } else {
    return refuse('ek-chain-untrusted', 'The EK has no certificate and is not registered by an operator.');
  }
  const problems = akAttributeProblems(ak);
  if (problems.length > 0) return refuse('ak-not-restricted', `The AK is not a restricted TPM signing key: ${problems.join(', ')}.`);
  const secret = randomBytes(32 > ek.nameAlg.size ? ek.nameAlg.size : 32);
  const credential = makeCredential(ek, ak.name, secret);
  return {
    ok: true,
    credential,
    pending: {
      akName: ak.name.toString('hex'),
      akPublic: ak.raw,
      ekName,
      ekTrust,
      secretHash: createHash('sha256').update(secret).digest(),
      expiresAt: new Date(req.at.getTime() + ACTIVATION_TTL_MS),
    },
  };
}

export type ActivationResult = { readonly ok: true; readonly bound: BoundAk } | Refusal;

/** Step 2: the device returns what TPM2_ActivateCredential released. Equal secret ⇒ AK bound to EK. */
export function finishAkActivation(pending: PendingActivation, returnedSecret: Buffer, at: Date): ActivationResult {
  if (at.getTime() > pending.expiresAt.getTime()) return refuse('ak-not-bound', 'The credential challenge expired; start the AK enrollment again.');
  const h = createHash('sha256').update(returnedSecret).digest();
  if (!timingSafeEqual(h, pending.secretHash)) {
    return refuse('ak-not-bound', 'The device could not activate the credential: the AK is not in the TPM that holds this EK.');
  }
  return { ok: true, bound: { akName: pending.akName, akPublic: pending.akPublic, ekName: pending.ekName, ekTrust: pending.ekTrust, boundAt: at } };
}
