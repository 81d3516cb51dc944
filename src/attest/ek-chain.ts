import { X509Certificate, type KeyObject } from 'node:crypto';
import { refuse, type Refusal } from './refusal.js';
import type { TpmPublic } from './tpm-public.js';

/** Manufacturer EK chains are root → (one or two intermediates) → EK; more is not a TPM chain. */
const MAX_CHAIN_DEPTH = 4;

export interface EkChainInput {
  readonly ekCert: X509Certificate | Buffer;
  readonly intermediates?: readonly (X509Certificate | Buffer)[];
  /** The configured TPM manufacturer roots (Infineon, STMicro, Nuvoton, Intel PTT, AMD fTPM, …). */
  readonly roots: readonly (X509Certificate | Buffer)[];
  /** The EK the TPM reported: the certificate must be for this very key. */
  readonly ekPublic?: TpmPublic;
  readonly at: Date;
}

export type EkChainCheck = { readonly ok: true; readonly root: X509Certificate; readonly chain: readonly X509Certificate[] } | Refusal;

function cert(c: X509Certificate | Buffer): X509Certificate {
  return c instanceof X509Certificate ? c : new X509Certificate(c);
}

function spki(k: KeyObject): Buffer {
  return k.export({ type: 'spki', format: 'der' });
}

function validAt(c: X509Certificate, at: Date): boolean {
  return new Date(c.validFrom).getTime() <= at.getTime() && at.getTime() <= new Date(c.validTo).getTime();
}

/**
 * Validates an EK certificate up to one of the configured manufacturer roots: issuer/subject
 * linkage, signatures, validity at `at`, CA flag on every issuer. A chain *validator*: it refuses
 * rather than searching for any path that might work (STYLE.md).
 */
export function verifyEkCertificate(input: EkChainInput): EkChainCheck {
  let leaf: X509Certificate;
  let pool: X509Certificate[];
  let roots: X509Certificate[];
  try {
    leaf = cert(input.ekCert);
    pool = (input.intermediates ?? []).map(cert);
    roots = input.roots.map(cert);
  } catch (e) {
    return refuse('ek-chain-untrusted', `An EK certificate or root could not be parsed: ${String(e)}`);
  }
  if (roots.length === 0) return refuse('ek-chain-untrusted', 'No TPM manufacturer roots are configured; no EK can be trusted (fail closed).');
  if (input.ekPublic !== undefined && !spki(leaf.publicKey).equals(spki(input.ekPublic.key))) {
    return refuse('ek-cert-mismatch', 'The EK certificate is for a different key than the EK the TPM reported.');
  }
  if (!validAt(leaf, input.at)) return refuse('ek-chain-untrusted', `The EK certificate is not valid at ${input.at.toISOString()}.`);
  const chain: X509Certificate[] = [leaf];
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    const root = roots.find((r) => current.checkIssued(r) && current.verify(r.publicKey));
    if (root !== undefined) {
      if (!validAt(root, input.at)) return refuse('ek-chain-untrusted', `The root "${root.subject}" is not valid at ${input.at.toISOString()}.`);
      return { ok: true, root, chain };
    }
    const next = pool.find((p) => p.ca && !chain.includes(p) && current.checkIssued(p) && current.verify(p.publicKey));
    if (next === undefined) return refuse('ek-chain-untrusted', `The EK certificate chain ("${current.issuer}") does not lead to a configured manufacturer root.`);
    if (!validAt(next, input.at)) return refuse('ek-chain-untrusted', `The intermediate "${next.subject}" is not valid at ${input.at.toISOString()}.`);
    chain.push(next);
    current = next;
  }
  return refuse('ek-chain-untrusted', 'The EK certificate chain is too long.');
}
