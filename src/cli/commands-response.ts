/**
 * `zeta alerts`, `zeta playbook`, `zeta response`: the response side from the command line, on a
 * data directory (`--data`, the same engine and store `zeta serve` uses, audited as `cli:<user>`)
 * or a running server (`--server` + token, through the API).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { ZetaConfig } from '../common/config.js';
import { ZetaError } from '../common/errors.js';
import { ControlPlane, responseEngine } from '../api/index.js';
import type { ResponseEngine } from '../response/index.js';
import { apiCall, resolveClient, type ClientOptions } from './client.js';
import { print, reportError, table } from './output.js';
import type { Common } from './main.js';

export interface ResponseCommandHelpers {
  withCommon: (cmd: Command, opts?: { remote?: boolean }) => Command;
  configFrom: (o: Common, extra?: Record<string, unknown>) => ZetaConfig;
}

type Remote = (c: ClientOptions) => Promise<unknown>;
type Local = (e: ResponseEngine, actor: string) => Promise<unknown>;

/** One command, two ways: the API when --server is given, else the data directory. */
function act<A extends unknown[]>(h: ResponseCommandHelpers, body: (o: Common & Record<string, unknown>, ...args: A) => { remote: Remote; local: Local }, human?: (v: never) => string) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const o = cmd.opts<Common & Record<string, unknown>>();
    let cp: ControlPlane | undefined;
    try {
      const { remote, local } = body(o, ...(args.slice(0, -2) as A));
      const client = resolveClient(o);
      let out: unknown;
      if (client !== undefined) {
        out = await remote(client);
      } else {
        cp = await ControlPlane.open(h.configFrom(o));
        out = await local(responseEngine(cp), `cli:${process.env.SUDO_USER ?? process.env.USER ?? 'unknown'}`);
      }
      if (out !== undefined) print(out, o, human);
    } catch (e) {
      reportError(e, o);
    } finally {
      await cp?.close();
    }
  };
}

const enc = encodeURIComponent;

function qs(o: Record<string, unknown>, keys: string[]): string {
  const p = new URLSearchParams();
  for (const k of keys) if (o[k] !== undefined) p.set(k, String(o[k]));
  const s = p.toString();
  return s === '' ? '' : `?${s}`;
}

function limit(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 5000) throw new ZetaError('ZETA_ERR_VALIDATION', `--limit must be an integer 1..5000, got ${String(v)}`);
  return n;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ZetaError('ZETA_ERR_VALIDATION', `cannot read ${file}`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ZetaError('ZETA_ERR_PLAYBOOK_INVALID', `${file} is not valid JSON: ${(e as Error).message}`);
  }
}

interface AlertView { id: string; at: string; deviceId: string | null; key: string; rule: string; severity: string; score: number; state: string; summary: string }
interface ActionView { id: string; at: string; deviceId: string; action: string; status: string; step: string; automatic: boolean; reason: string }
interface PlanView { plan: { playbook: string; step: string; action: string; deviceId: string; decision: string; why: string[]; from: { state: string }; to: { state: string; tags: string[] }; actionId?: string }[]; dryRun: boolean }

const alertsTable = (v: { alerts: AlertView[] }): string =>
  v.alerts.length === 0 ? 'no alerts' : table(v.alerts.map((a) => ({ ...a, device: a.deviceId ?? a.key, score: a.score.toFixed(2) })), ['id', 'at', 'device', 'rule', 'severity', 'score', 'state', 'summary']);
const actionsTable = (v: { actions: ActionView[] }): string =>
  v.actions.length === 0 ? 'no response actions' : table(v.actions.map((a) => ({ ...a, device: a.deviceId, auto: a.automatic ? 'yes' : 'no' })), ['id', 'at', 'device', 'action', 'status', 'step', 'auto', 'reason']);
const planText = (v: PlanView): string =>
  v.plan.length === 0 ? 'no playbook step matches' : v.plan.map((p) => `${v.dryRun ? '[dry-run] ' : ''}${p.playbook}/${p.step}: ${p.action} ${p.deviceId} → ${p.decision}${p.actionId === undefined ? '' : ` (${p.actionId})`}\n  ${p.from.state} → ${p.to.state}; ${p.why.join('; ')}`).join('\n');
const actionText = (a: ActionView): string => `${a.id}: ${a.action} ${a.deviceId} is ${a.status}\n  ${a.reason}`;

export function registerResponseCommands(program: Command, h: ResponseCommandHelpers): void {
  const w = (c: Command): Command => h.withCommon(c, { remote: true });

  const alerts = program.command('alerts').description('persisted alerts: list, show, acknowledge');
  w(alerts.command('list').description('alerts, newest first'))
    .option('--state <state>', 'open, acknowledged or resolved').option('--device <id>', 'one device (or address key)')
    .option('--severity <s>', 'low, medium or high').option('--since <iso>', 'raised at or after this time').option('--limit <n>', 'at most this many (default 200)')
    .action(act(h, (o) => ({
      remote: (c) => apiCall(c, 'GET', `/api/v1/alerts${qs(o, ['state', 'device', 'severity', 'since', 'limit'])}`),
      local: async (e) => {
        const f = { state: o.state, device: o.device, severity: o.severity, since: o.since, limit: limit(o.limit) };
        return { alerts: await e.alerts.list(Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as Parameters<ResponseEngine['alerts']['list']>[0]) };
      },
    }), alertsTable));
  w(alerts.command('show <id>').description('one alert with its explanation and the actions it caused'))
    .action(act(h, (_o, id: string) => ({
      remote: (c) => apiCall(c, 'GET', `/api/v1/alerts/${enc(id)}`),
      local: async (e) => {
        const a = await e.alerts.get(id);
        return { ...a, actions: a.deviceId === null ? [] : (await e.listActions({ device: a.deviceId, limit: 500 })).filter((x) => x.alertId === a.id) };
      },
    })));
  w(alerts.command('ack <id>').description('acknowledge an alert')).option('--note <text>', 'why')
    .action(act(h, (o, id: string) => ({
      remote: (c) => apiCall(c, 'POST', `/api/v1/alerts/${enc(id)}/ack`, o.note === undefined ? {} : { note: o.note }),
      local: (e, actor) => e.alerts.setState(id, 'acknowledged', actor, o.note as string | undefined),
    }), (v: AlertView) => `alert ${v.id} is ${v.state}`));
  w(alerts.command('resolve <id>').description('resolve an alert')).option('--note <text>', 'why')
    .action(act(h, (o, id: string) => ({
      remote: (c) => apiCall(c, 'POST', `/api/v1/alerts/${enc(id)}/resolve`, o.note === undefined ? {} : { note: o.note }),
      local: (e, actor) => e.alerts.setState(id, 'resolved', actor, o.note as string | undefined),
    }), (v: AlertView) => `alert ${v.id} is ${v.state}`));
  w(alerts.command('respond <id>').description('run the playbooks (or one --step) on an alert now'))
    .option('--playbook <name>', 'only this playbook').option('--step <id>', 'apply this step (operator decision)').option('--dry-run', 'report what would change; change nothing')
    .action(act(h, (o, id: string) => {
      const dryRun = o.dryRun === true;
      return {
        remote: (c) => apiCall(c, 'POST', `/api/v1/alerts/${enc(id)}/respond`, { ...(o.playbook === undefined ? {} : { playbook: o.playbook }), ...(o.step === undefined ? {} : { step: o.step }), dryRun }),
        local: async (e, actor) => ({
          dryRun,
          plan: dryRun ? await e.dryRun(id, o.playbook === undefined ? {} : { playbook: o.playbook as string })
            : await e.respond(id, { ...(o.playbook === undefined ? {} : { playbook: o.playbook as string }), ...(o.step === undefined ? {} : { step: o.step as string }) }, actor),
        }),
      };
    }, planText));

  const playbook = program.command('playbook').description('declarative response playbooks (versioned)');
  w(playbook.command('show [name]').description('the playbooks in force (or one)'))
    .action(act(h, (_o, name?: string) => {
      const pick = (v: { playbooks: { name: string }[] }): unknown => {
        if (name === undefined) return v;
        const p = v.playbooks.find((x) => x.name === name);
        if (p === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no playbook named ${name}`);
        return p;
      };
      return {
        remote: async (c) => pick(await apiCall<{ playbooks: { name: string }[] }>(c, 'GET', '/api/v1/playbooks')),
        local: async (e) => pick({ playbooks: await e.playbooks() }),
      };
    }));
  w(playbook.command('apply <file>').description('validate a playbook (JSON) and store it as a new version; nothing stored if invalid'))
    .action(act(h, (_o, file: string) => {
      const body = readJson(file);
      return {
        remote: (c) => apiCall(c, 'PUT', '/api/v1/playbooks', body),
        local: (e, actor) => e.putPlaybook(body, actor),
      };
    }, (v: { name: string; version: number }) => `playbook ${v.name} is now version ${v.version}`));
  w(playbook.command('dry-run <alertId>').description('what the playbooks would do for an alert now; changes nothing'))
    .option('--playbook <name>', 'only this playbook')
    .action(act(h, (o, id: string) => ({
      remote: (c) => apiCall(c, 'POST', `/api/v1/alerts/${enc(id)}/respond`, { dryRun: true, ...(o.playbook === undefined ? {} : { playbook: o.playbook }) }),
      local: async (e) => ({ dryRun: true, plan: await e.dryRun(id, o.playbook === undefined ? {} : { playbook: o.playbook as string }) }),
    }), planText));

  const response = program.command('response').description('response actions: list, approve, reject, undo');
  w(response.command('list').description('actions, newest first'))
    .option('--status <s>', 'applied, pending, rejected, undone or failed').option('--device <id>', 'one device').option('--limit <n>', 'at most this many (default 200)')
    .action(act(h, (o) => ({
      remote: (c) => apiCall(c, 'GET', `/api/v1/responses${qs(o, ['status', 'device', 'limit'])}`),
      local: async (e) => {
        const f = { status: o.status, device: o.device, limit: limit(o.limit) };
        return { actions: await e.listActions(Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as Parameters<ResponseEngine['listActions']>[0]) };
      },
    }), actionsTable));
  w(response.command('show <id>').description('one action'))
    .action(act(h, (_o, id: string) => ({ remote: (c) => apiCall(c, 'GET', `/api/v1/responses/${enc(id)}`), local: (e) => e.getAction(id) }), actionText));
  w(response.command('approve <id>').description('approve a pending action: it is applied now'))
    .action(act(h, (_o, id: string) => ({ remote: (c) => apiCall(c, 'POST', `/api/v1/responses/${enc(id)}/approve`, {}), local: (e, actor) => e.approve(id, actor) }), actionText));
  w(response.command('reject <id>').description('reject a pending action: nothing changes')).option('--note <text>', 'why')
    .action(act(h, (o, id: string) => ({
      remote: (c) => apiCall(c, 'POST', `/api/v1/responses/${enc(id)}/reject`, o.note === undefined ? {} : { note: o.note }),
      local: (e, actor) => e.reject(id, actor, o.note as string | undefined),
    }), actionText));
  w(response.command('undo <id>').description('restore what an applied action replaced (revoke cannot be undone)'))
    .action(act(h, (_o, id: string) => ({ remote: (c) => apiCall(c, 'POST', `/api/v1/responses/${enc(id)}/undo`, {}), local: (e, actor) => e.undo(id, actor) }), actionText));
}
