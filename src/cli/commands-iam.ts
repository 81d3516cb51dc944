/**
 * `zeta operator`, `zeta token create`, `zeta approval`: operator IAM from the command line. Each
 * works on a data directory (before or beside `zeta serve`: the same ControlPlane, the same audit
 * entries) or on a running server with `--server` and a token.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { ZetaError } from '../common/errors.js';
import { ROLES, PERMISSIONS } from '../iam/index.js';
import type { ControlPlane } from '../api/index.js';
import { LocalBackend, type Backend } from './backend.js';
import { apiCall, resolveClient, type ClientOptions } from './client.js';

export interface CliHelpers {
  withCommon: (cmd: Command, opts?: { remote?: boolean }) => Command;
  run: <A extends unknown[]>(fn: (b: Backend, o: Record<string, unknown>, ...args: A) => Promise<unknown>, human?: (v: never) => string) => (...args: unknown[]) => Promise<void>;
}

function cliActor(): string {
  return `cli:${process.env.SUDO_USER ?? process.env.USER ?? 'unknown'}`;
}

/** Local control plane, or the API client for --server. */
function target(b: Backend, o: Record<string, unknown>): { cp: ControlPlane } | { client: ClientOptions } {
  if (b instanceof LocalBackend) return { cp: b.cp };
  const client = resolveClient(o as { server?: string; token?: string; caFile?: string });
  if (client === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', '--server is required');
  return { client };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  // Only the first line: a trailing newline from `echo` is not part of the password.
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

function list(v: string, prev: string[] = []): string[] {
  return [...prev, ...v.split(',').map((s) => s.trim()).filter((s) => s !== '')];
}

const enc = encodeURIComponent;

export function registerIamCommands(program: Command, h: CliHelpers): void {
  const { withCommon, run } = h;
  const operator = program.command('operator').description('operator accounts: add, list, disable, reset-mfa, unlock, set-role');

  withCommon(operator.command('add <username>').description('add an operator; a second factor is enrolled at first login (or now with --totp)'), { remote: true })
    .addOption(new Option('--role <role>').choices([...ROLES]).makeOptionMandatory())
    .option('--password-stdin', 'read the password from the first line of stdin (otherwise one is generated and printed once)')
    .option('--display-name <name>')
    .option('--site <site>', 'limit to a site (repeatable, or comma separated)', list)
    .option('--segment <segment>', 'limit to a segment (repeatable, or comma separated)', list)
    .option('--sso-subject <sub>', 'link a single-sign-on identity: the IdP subject (issuer: --sso-issuer or oidcIssuer)')
    .option('--sso-issuer <url>', 'issuer of --sso-subject (default: the configured oidcIssuer)')
    .option('--no-password', 'single-sign-on only: no password (needs --sso-subject)')
    .option('--totp', 'enrol TOTP now and print its secret and recovery codes once (provisioning; --data only)')
    .action(run(async (b, o, username: string) => {
      const x = o as { role: string; passwordStdin?: boolean; displayName?: string; site?: string[]; segment?: string[]; totp?: boolean; ssoSubject?: string; ssoIssuer?: string; password?: boolean };
      const noPassword = x.password === false;
      if (noPassword && x.ssoSubject === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', '--no-password needs --sso-subject');
      const generated = x.passwordStdin !== true && !noPassword;
      const password = noPassword ? undefined : generated ? randomWords() : await readStdin();
      const t0 = target(b, o);
      const issuer = x.ssoIssuer ?? ('cp' in t0 ? t0.cp.config.oidcIssuer : undefined);
      if (x.ssoSubject !== undefined && issuer === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', '--sso-subject needs --sso-issuer (or oidcIssuer in the configuration)');
      const sso = x.ssoSubject === undefined ? undefined : { issuer: issuer!, subject: x.ssoSubject };
      const scope = { ...(x.site === undefined ? {} : { sites: x.site }), ...(x.segment === undefined ? {} : { segments: x.segment }) };
      const t = target(b, o);
      let out: Record<string, unknown>;
      if ('cp' in t) {
        const op = await t.cp.iam.operators.create({
          username, role: x.role, scope, ...(password === undefined ? {} : { password }), ...(sso === undefined ? {} : { oidc: sso }), ...(x.displayName === undefined ? {} : { displayName: x.displayName }),
        }, cliActor());
        out = { ...op };
        if (x.totp === true) {
          const p = await t.cp.iam.operators.provisionTotp(op.id, cliActor());
          out = { ...(await t.cp.iam.operators.get(op.id)), totpSecret: p.secret, recoveryCodes: p.recoveryCodes };
        }
      } else {
        if (x.totp === true) throw new ZetaError('ZETA_ERR_VALIDATION', '--totp provisions on a data directory only; over the API the operator enrols at first login');
        out = await apiCall<Record<string, unknown>>(t.client, 'POST', '/api/v1/operators', {
          username, role: x.role, scope, ...(password === undefined ? {} : { password }), ...(sso === undefined ? {} : { sso }), ...(x.displayName === undefined ? {} : { displayName: x.displayName }),
        });
      }
      return generated && password !== undefined ? { ...out, password } : out;
    }, (v: { username: string; role: string; password?: string; totpSecret?: string; recoveryCodes?: string[] }) => [
      `operator ${v.username} (${v.role}) added`,
      ...(v.password === undefined ? [] : [`password (shown once): ${v.password}`]),
      ...(v.totpSecret === undefined ? [`second factor: enrolled at first login`] : [`TOTP secret (shown once): ${v.totpSecret}`, `recovery codes (shown once):`, ...(v.recoveryCodes ?? []).map((c) => `  ${c}`)]),
    ].join('\n')));

  withCommon(operator.command('list').description('list operators'), { remote: true })
    .action(run(async (b, o) => {
      const t = target(b, o);
      return 'cp' in t ? { operators: await t.cp.iam.operators.list() } : apiCall(t.client, 'GET', '/api/v1/operators');
    }));

  withCommon(operator.command('disable <username>').description('disable an operator: sessions end, personal tokens are revoked'), { remote: true })
    .option('--enable', 'enable it again instead')
    .action(run(async (b, o, username: string) => {
      const t = target(b, o);
      const disabled = o.enable !== true;
      if ('cp' in t) return t.cp.iam.operators.setDisabled(username, disabled, cliActor());
      const op = await apiCall<{ id: string }>(t.client, 'GET', `/api/v1/operators`).then((r) => (r as unknown as { operators: { id: string; username: string }[] }).operators.find((x) => x.username === username || x.id === username));
      if (op === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no operator ${username}`);
      return apiCall(t.client, 'PATCH', `/api/v1/operators/${enc(op.id)}`, { disabled });
    }));

  withCommon(operator.command('reset-mfa <username>').description("remove the operator's second factors and recovery codes; the next login enrols anew"), { remote: true })
    .action(run(async (b, o, username: string) => {
      const t = target(b, o);
      return 'cp' in t ? t.cp.iam.operators.resetMfa(username, cliActor()) : apiCall(t.client, 'POST', `/api/v1/operators/${enc(username)}/reset-mfa`, {});
    }));

  withCommon(operator.command('unlock <username>').description('clear the failed-login lockout of a user name'), { remote: true })
    .action(run(async (b, o, username: string) => {
      const t = target(b, o);
      return 'cp' in t ? t.cp.iam.operators.unlock(username, cliActor()) : apiCall(t.client, 'POST', `/api/v1/operators/${enc(username)}/unlock`, {});
    }));

  withCommon(operator.command('set-role <username> <role>').description("change an operator's role (and scope with --site/--segment; --unscoped clears it)"), { remote: true })
    .option('--site <site>', 'limit to a site (repeatable)', list)
    .option('--segment <segment>', 'limit to a segment (repeatable)', list)
    .option('--unscoped', 'every site and segment')
    .action(run(async (b, o, username: string, role: string) => {
      const x = o as { site?: string[]; segment?: string[]; unscoped?: boolean };
      const scope = x.unscoped === true ? { sites: [], segments: [] } : x.site === undefined && x.segment === undefined ? undefined : { sites: x.site ?? [], segments: x.segment ?? [] };
      const t = target(b, o);
      return 'cp' in t ? t.cp.iam.operators.setRole(username, role, scope, cliActor()) : apiCall(t.client, 'PATCH', `/api/v1/operators/${enc(username)}`, { role, ...(scope === undefined ? {} : { scope }) });
    }));

  const token = program.commands.find((c) => c.name() === 'token') ?? program.command('token').description('API tokens');
  withCommon(token.command('create').description('create an API token (shown once): personal (--scope, --expires-in-days; --operator on a data directory) or a role token (--role)'), { remote: true })
    .requiredOption('--name <name>')
    .addOption(new Option('--role <role>', 'a role token (service, CI)').choices([...ROLES]))
    .option('--operator <username>', 'owner of a personal token (data directory; over --server the owner is the caller)')
    .option('--scope <permission>', `limit to permissions (repeatable or comma separated): ${PERMISSIONS.join(', ')}`, list)
    .option('--expires-in-days <n>')
    .action(run(async (b, o) => {
      const x = o as { name: string; role?: string; operator?: string; scope?: string[]; expiresInDays?: string };
      const days = x.expiresInDays === undefined ? undefined : Number(x.expiresInDays);
      if (days !== undefined && (!Number.isInteger(days) || days < 1)) throw new ZetaError('ZETA_ERR_VALIDATION', `--expires-in-days must be a positive integer, got ${x.expiresInDays}`);
      const t = target(b, o);
      if (x.role !== undefined) {
        if (x.operator !== undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'use --role for a role token or --operator for a personal token, not both');
        const body = { name: x.name, role: x.role, ...(x.scope === undefined ? {} : { scopes: x.scope }), ...(days === undefined ? {} : { expiresInDays: days }) };
        if ('client' in t) return apiCall(t.client, 'POST', '/api/v1/tokens', body);
        const r = await t.cp.tokens.create(body, cliActor());
        return { ...r.info, token: r.token };
      }
      if (x.scope === undefined || days === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'a personal token needs --scope and --expires-in-days (or give --role for a role token)');
      if ('client' in t) return apiCall(t.client, 'POST', '/api/v1/me/tokens', { name: x.name, scopes: x.scope, expiresInDays: days });
      if (x.operator === undefined) throw new ZetaError('ZETA_ERR_VALIDATION', 'on a data directory, name the owner with --operator');
      const owner = await t.cp.iam.operators.get(x.operator);
      if (owner.disabled) throw new ZetaError('ZETA_ERR_STATE', `operator ${owner.username} is disabled`);
      const r = await t.cp.tokens.create({ name: x.name, role: owner.role, scopes: x.scope, expiresInDays: days, operatorId: owner.id }, cliActor());
      return { ...r.info, token: r.token };
    }));

  const approval = program.command('approval').description('separation of duties: pending policy applies and CA rotations');
  withCommon(approval.command('list').description('list approvals'), { remote: true })
    .option('--state <state>', 'pending, approved, rejected or failed')
    .action(run(async (b, o) => {
      const t = target(b, o);
      const state = typeof o.state === 'string' ? o.state : undefined;
      return 'cp' in t ? { approvals: await t.cp.iam.approvals.list(state) } : apiCall(t.client, 'GET', `/api/v1/approvals${state === undefined ? '' : `?state=${enc(state)}`}`);
    }));
  for (const decision of ['approve', 'reject'] as const) {
    withCommon(approval.command(`${decision} <id>`).description(`${decision} a pending request (as a different operator than the requester; needs --server)`), { remote: true })
      .action(run(async (b, o, id: string) => {
        const t = target(b, o);
        // The approver must be a known operator: on a data directory there is no authenticated one.
        if ('cp' in t) throw new ZetaError('ZETA_ERR_VALIDATION', `approval ${decision} needs --server and the approving operator's token`);
        return apiCall(t.client, 'POST', `/api/v1/approvals/${enc(id)}/${decision}`, {});
      }));
  }
}

/** A generated first password: 6 random words-ish groups, ~120 bits. */
function randomWords(): string {
  const alphabet = 'abcdefghijkmnopqrstuvwxyz23456789';
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  let s = '';
  for (let i = 0; i < 24; i++) s += alphabet[bytes[i]! % alphabet.length];
  return s.match(/.{4}/g)!.join('-');
}
