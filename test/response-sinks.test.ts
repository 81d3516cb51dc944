/**
 * Sinks against real receivers: an HTTP server for the webhook (exact body, HMAC over timestamp
 * and body, retries after a failure, bounded queue with counted drops), a UDP socket and socat on
 * TCP for syslog (exact RFC 5424 fields, RFC 6587 octet counting), and a JSON lines file.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createConnection } from 'node:net';
import { spawn } from 'node:child_process';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { JsonLinesSink, SyslogSink, WebhookSink, formatSyslog, type SinkEvent, type AlertRecord, type ResponseAction } from '../src/response/index.js';
import { isZetaError } from '../src/common/errors.js';
import { freePort, tempDir } from './helpers.js';

const alert: AlertRecord = {
  id: 'alr-0123456789abcdef', at: '2026-11-29T17:00:00.000Z', deviceId: 'cam-1', key: '10.0.0.5', rule: 'fan-out-hosts', severity: 'high', score: 0.93,
  summary: 'cam-1 contacted 40 hosts in 60 s (cohort "x"] \\ usual 3)', explanation: { observed: { hosts: 40 }, baseline: { hosts: 3 } },
  state: 'open', updatedBy: null, updatedAt: null, note: null,
};
const action: ResponseAction = {
  id: 'rsp-0123456789abcdef', at: '2026-11-29T17:00:01.000Z', deviceId: 'cam-1', segment: 'cams', action: 'quarantine', status: 'applied', automatic: true,
  playbook: 'default', playbookVersion: 1, step: 'quarantine-attack', alertId: alert.id, reason: 'rule fan-out-hosts', previous: { state: 'active', tags: [] },
  actor: 'response:auto', decidedBy: null, decidedAt: null, undoable: true,
};
const ev1: SinkEvent = { type: 'alert', ts: alert.at, alert };
const ev2: SinkEvent = { type: 'response', ts: action.at, action };

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    req.on('data', (d: Buffer) => { s += d.toString('utf8'); });
    req.on('end', () => resolve(s));
  });
}

it('webhook: exact JSON body, HMAC-SHA256 over "<t>.<body>", retried after a 500, refused without a secret', async () => {
  const secret = 'a-shared-secret-of-32-characters';
  const got: { headers: IncomingMessage['headers']; body: string }[] = [];
  let calls = 0;
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      calls++;
      if (calls === 1) {
        res.writeHead(500).end();
        return;
      }
      got.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  try {
    const sink = new WebhookSink({ url: `http://127.0.0.1:${port}/hook`, secret, backoffMs: 20, now: () => 1_764_435_600_000 });
    sink.push(ev1);
    sink.push(ev2);
    await sink.flush();
    assert.deepEqual(sink.stats(), { name: 'webhook', queued: 0, sent: 2, failed: 0, dropped: 0, retries: 1 });
    assert.equal(got.length, 2);
    assert.equal(got[0]!.body, JSON.stringify(ev1));
    assert.equal(got[1]!.body, JSON.stringify(ev2));
    for (const g of got) {
      assert.equal(g.headers['content-type'], 'application/json');
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(g.headers['x-zeta-signature']));
      assert.ok(m !== null, String(g.headers['x-zeta-signature']));
      assert.equal(m[1], '1764435600');
      // What a receiver does: recompute, compare in constant time, refuse stale timestamps.
      const want = createHmac('sha256', secret).update(`${m[1]}.${g.body}`).digest();
      assert.ok(timingSafeEqual(want, Buffer.from(m[2]!, 'hex')));
      const forged = createHmac('sha256', secret).update(`${Number(m[1]) + 1}.${g.body}`).digest('hex');
      assert.notEqual(forged, m[2], 'the timestamp is covered: a replay with a fresh timestamp does not verify');
    }
    assert.equal(got[0]!.headers['x-zeta-event'], 'alert');
    assert.equal(got[1]!.headers['x-zeta-event'], 'response');
    assert.throws(() => new WebhookSink({ url: `http://127.0.0.1:${port}/`, secret: '' }), (e: unknown) => isZetaError(e) && e.code === 'ZETA_ERR_CONFIG');
    assert.throws(() => new WebhookSink({ url: 'ftp://x/', secret }), (e: unknown) => isZetaError(e) && e.code === 'ZETA_ERR_CONFIG');
  } finally {
    await new Promise((r) => server.close(r));
  }
});

it('webhook: a dead receiver fills a bounded queue; further events are dropped and counted, delivery gives up after the retries', async () => {
  const port = await freePort(); // nothing listens
  const sink = new WebhookSink({ url: `http://127.0.0.1:${port}/`, secret: 'x'.repeat(16), queueLimit: 3, maxRetries: 2, backoffMs: 5 });
  for (let i = 0; i < 10; i++) sink.push(ev1);
  assert.equal(sink.stats().dropped, 7);
  await sink.flush();
  assert.deepEqual(sink.stats(), { name: 'webhook', queued: 0, sent: 0, failed: 3, dropped: 7, retries: 6 });
});

it('syslog over UDP: one RFC 5424 message per datagram with the exact header and structured data', async () => {
  const sock = createSocket('udp4');
  const port = await new Promise<number>((r) => sock.bind(0, '127.0.0.1', () => r(sock.address().port)));
  const got: string[] = [];
  sock.on('message', (m) => got.push(m.toString('utf8')));
  try {
    const sink = new SyslogSink({ target: `udp://127.0.0.1:${port}`, hostname: 'zeta-host', procId: 4242 });
    sink.push(ev1);
    sink.push(ev2);
    await sink.flush();
    for (let i = 0; i < 50 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    await sink.close();
    // PRI = facility 4 (auth) × 8 + severity 2 (critical, a high alert) = 34; notice (5) for actions = 37.
    assert.equal(got[0], '<34>1 2026-11-29T17:00:00.000Z zeta-host zeta 4242 alert [zeta@32473 type="alert" id="alr-0123456789abcdef" rule="fan-out-hosts" severity="high" score="0.930" device="cam-1"] cam-1 contacted 40 hosts in 60 s (cohort "x"] \\ usual 3)');
    assert.equal(got[1], '<37>1 2026-11-29T17:00:01.000Z zeta-host zeta 4242 response [zeta@32473 type="response" id="rsp-0123456789abcdef" action="quarantine" status="applied" device="cam-1" step="quarantine-attack"] quarantine applied: rule fan-out-hosts');
    // RFC 5424 §6: HEADER SP STRUCTURED-DATA [SP MSG]; PARAM-VALUE escapes ", \ and ].
    const withQuote = formatSyslog({ ...ev1, alert: { ...alert, deviceId: 'a"b]c\\d' } }, { hostname: 'h', procId: 1 });
    assert.ok(withQuote.includes('device="a\\"b\\]c\\\\d"'), withQuote);
    assert.throws(() => new SyslogSink({ target: 'http://x:1' }), (e: unknown) => isZetaError(e) && e.code === 'ZETA_ERR_CONFIG');
  } finally {
    sock.close();
  }
});

it('syslog over TCP to socat: octet counting framing (RFC 6587 §3.4.1), exact bytes', async () => {
  const dir = tempDir('zeta-syslog-');
  const out = join(dir.path, 'received');
  const port = await freePort();
  const socat = spawn('socat', ['-u', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `OPEN:${out},creat,append`], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((r) => {
        const c = createConnection(port, '127.0.0.1', () => { c.destroy(); r(true); });
        c.on('error', () => r(false));
      });
      if (ok) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const sink = new SyslogSink({ target: `tcp://127.0.0.1:${port}`, hostname: 'zeta-host', procId: 4242 });
    sink.push(ev1);
    sink.push(ev2);
    await sink.flush();
    assert.equal(sink.stats().sent, 2);
    await sink.close();
    const m1 = formatSyslog(ev1, { hostname: 'zeta-host', procId: 4242 });
    const m2 = formatSyslog(ev2, { hostname: 'zeta-host', procId: 4242 });
    const expected = `${Buffer.byteLength(m1)} ${m1}${Buffer.byteLength(m2)} ${m2}`;
    let text = '';
    for (let i = 0; i < 100 && text.length < expected.length; i++) {
      await new Promise((r) => setTimeout(r, 50));
      text = existsSync(out) ? readFileSync(out, 'utf8') : '';
    }
    assert.equal(text, expected);
    assert.match(text, /^\d+ <34>1 /);
  } finally {
    socat.kill();
    dir.cleanup();
  }
});

it('JSON lines file: one event per line, in order, file mode 0600', async () => {
  const dir = tempDir('zeta-jsonl-');
  try {
    const path = join(dir.path, 'alerts.jsonl');
    const sink = new JsonLinesSink({ path });
    sink.push(ev1);
    sink.push(ev2);
    await sink.flush();
    assert.ok(existsSync(path));
    assert.equal(readFileSync(path, 'utf8'), `${JSON.stringify(ev1)}\n${JSON.stringify(ev2)}\n`);
    assert.equal(statSync(path).mode & 0o777, 0o600);
  } finally {
    dir.cleanup();
  }
});
