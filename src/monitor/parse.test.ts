import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayEventParser, MAX_LINE_CHARS, TelemetryParser, ZeekConnParser, splitCsv, type ParseResult } from './parse.js';

// A conn.log as Zeek 6 writes it (TSV, default fields), with a bad line in the middle.
const ZEEK_TSV = [
  '#separator \\x09',
  '#set_separator\t,',
  '#empty_field\t(empty)',
  '#unset_field\t-',
  '#path\tconn',
  '#open\t2026-01-05-08-00-00',
  '#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents',
  '#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]',
  '1767600000.123456\tCmES5u32sYpV7JYN\t10.1.0.5\t49152\t52.0.0.1\t443\ttcp\tssl\t1.250000\t2345\t6789\tSF\tT\tF\t0\tShADadFf\t12\t2985\t10\t7209\t-',
  '1767600001.000001\tC8blOJ21azairPrWf8\t10.1.0.5\t49153\t10.9.0.1\t23\ttcp\t-\t-\t-\t-\tS0\tT\tT\t0\tS\t1\t60\t0\t0\t(empty)',
  '1767600002.5\tCbad\t10.1.0.5\t70000\t10.9.0.2\t23\ttcp\t-\t-\t-\t-\tS0\tT\tT\t0\tS\t1\t60\t0\t0\t-',
  '1767600003.5\tCshort\t10.1.0.5',
  '#close\t2026-01-05-09-00-00',
].join('\n');

const ZEEK_JSON = [
  '{"ts":1767600000.5,"uid":"CHhAvVGS1DHFjwGM9","id.orig_h":"10.1.0.6","id.orig_p":50000,"id.resp_h":"52.0.0.1","id.resp_p":443,"proto":"tcp","service":"ssl","duration":0.25,"orig_bytes":100,"resp_bytes":2000,"conn_state":"SF","local_orig":true,"missed_bytes":0,"history":"ShADadFf","orig_pkts":5,"orig_ip_bytes":400,"resp_pkts":4,"resp_ip_bytes":2200}',
  '{"ts":"2026-01-05T08:00:01.250Z","uid":"C2","id.orig_h":"10.1.0.6","id.orig_p":50001,"id.resp_h":"10.1.0.9","id.resp_p":22,"proto":"tcp","conn_state":"REJ","history":"Sr"}',
  '{"ts":1767600002,"id.orig_h":"10.1.0.6","id.resp_h":"10.1.0.9","id.resp_p":"twenty-two"}',
  '{"ts":1767600002, broken json',
  '["not","an","object"]',
  '{"ts":-5,"id.orig_h":"10.1.0.6","id.resp_h":"10.1.0.9"}',
].join('\n');

function parseAll(p: { parse(l: string): ParseResult }, text: string): ParseResult[] {
  return text.split('\n').map((l) => p.parse(l));
}

describe('ZeekConnParser', () => {
  it('parses the TSV form with its header, `-` and `(empty)`, and reports bad lines', () => {
    const r = parseAll(new ZeekConnParser(), ZEEK_TSV);
    const recs = r.filter((x) => x.ok === true);
    const bad = r.filter((x) => x.ok === false);
    assert.equal(r.filter((x) => x.ok === 'skip').length, 9);
    assert.equal(recs.length, 2);
    const [a, b] = recs.map((x) => (x.ok === true && x.record.kind === 'flow' ? x.record : undefined));
    assert.deepEqual([a?.tsMs, a?.origH, a?.respP, a?.service, a?.origBytes, a?.connState, a?.duration], [1767600000123, '10.1.0.5', 443, 'ssl', 2345, 'SF', 1.25]);
    assert.deepEqual([b?.service, b?.duration, b?.origBytes, b?.connState, b?.history], ['', 0, 0, 'S0', 'S']);
    assert.deepEqual(bad.map((x) => (x.ok === false ? x.error : '')), ['id.orig_p: not a port', 'expected 21 tab-separated fields, got 3']);
  });

  it('parses JSON lines (epoch or ISO ts) and reports bad ones', () => {
    const r = parseAll(new ZeekConnParser(), ZEEK_JSON);
    assert.equal(r[0]?.ok, true);
    assert.equal(r[1]?.ok === true && r[1].record.tsMs, Date.parse('2026-01-05T08:00:01.250Z'));
    assert.equal(r[1]?.ok === true && r[1].record.kind === 'flow' && r[1].record.connState, 'REJ');
    assert.deepEqual(r.slice(2).map((x) => (x.ok === false ? x.error : 'ok')), ['id.resp_p: not a port', 'not valid JSON', 'not a JSON object', 'ts: not a timestamp']);
  });

  it('uses Zeek\'s default column order without a header, honours a custom #fields order', () => {
    const p = new ZeekConnParser();
    assert.equal(p.parse('1767600000.0\tC1\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t-\t-\t-\t-\tS0\t-\t-\t0\tS\t1\t40\t0\t0\t-').ok, true);
    assert.equal(p.parse('#fields\tid.resp_h\tts\tid.orig_h').ok, 'skip');
    const r = p.parse('10.0.0.2\t1767600000.0\t10.0.0.1');
    assert.ok(r.ok === true && r.record.kind === 'flow' && r.record.respH === '10.0.0.2' && r.record.origH === '10.0.0.1');
    assert.equal(p.parse('#fields\tuid\tproto').ok, false, 'a header without ts/addresses is refused');
  });

  it('refuses an over-long line before parsing it, and never throws on junk', () => {
    const p = new ZeekConnParser();
    assert.deepEqual(p.parse('{' + 'x'.repeat(MAX_LINE_CHARS)), { ok: false, error: `line longer than ${MAX_LINE_CHARS} characters` });
    for (const junk of ['\u0000\u0001', '{"ts":1e400}', '{"id.orig_h":{"x":1}}', 'a\tb\tc', '{"ts":1,"id.orig_h":"a b","id.resp_h":"c"}']) assert.equal(p.parse(junk).ok, false, junk);
  });
});

describe('TelemetryParser', () => {
  it('CSV with a header in any column order, quotes, bad rows', () => {
    const p = new TelemetryParser();
    const r = parseAll(p, ['device,ts,value,metric', 'cam-1,1767600000,31.5,cpu', '"cam,2",2026-01-05T08:00:00Z,"7",temp', 'cam-3,1767600000,NaN,cpu', 'cam-4,1767600000', 'cam-5,1767600000,1,"bad metric"'].join('\n'));
    assert.equal(r[0]?.ok, 'skip');
    assert.ok(r[1]?.ok === true && r[1].record.kind === 'telemetry' && r[1].record.device === 'cam-1' && r[1].record.value === 31.5 && r[1].record.tsMs === 1767600000000);
    assert.ok(r[2]?.ok === true && r[2].record.kind === 'telemetry' && r[2].record.device === 'cam,2' && r[2].record.metric === 'temp');
    assert.deepEqual(r.slice(3).map((x) => (x.ok === false ? x.error : 'ok')), ['value: not a finite number', 'CSV: expected at least 4 columns, got 2', 'metric: expected 1-64 of [A-Za-z0-9_.:/-]']);
  });

  it('JSON lines; epoch ms and seconds are both understood', () => {
    const p = new TelemetryParser();
    const a = p.parse('{"ts":1767600000000,"device":"t-1","metric":"temperature","value":21.5}');
    const b = p.parse('{"ts":1767600000,"device":"t-1","metric":"temperature","value":"21.5"}');
    assert.ok(a.ok === true && b.ok === true && a.record.tsMs === b.record.tsMs);
    assert.equal(p.parse('{"ts":1767600000,"device":"","metric":"x","value":1}').ok, false);
  });

  it('splitCsv handles escaped quotes and refuses unbalanced ones', () => {
    assert.deepEqual(splitCsv('a,"b ""q"", c",d'), ['a', 'b "q", c', 'd']);
    assert.equal(splitCsv('a,"b'), undefined);
  });
});

describe('GatewayEventParser', () => {
  it('accepts the GatewayEvent shape and checks every field', () => {
    const p = new GatewayEventParser();
    const ok = p.parse('{"type":"publish_denied","at":"2026-01-05T08:00:00.000Z","sessionId":4,"clientAddress":"10.1.0.5","deviceId":"cam-1","topic":"devices/cam-2/x","reason":"not_authorized","bytes":10}');
    assert.ok(ok.ok === true && ok.record.kind === 'gateway' && ok.record.event.deviceId === 'cam-1' && ok.record.tsMs === Date.parse('2026-01-05T08:00:00.000Z'));
    const errors = [
      '{"type":"connect","at":"yesterday","sessionId":1,"clientAddress":"x"}',
      '{"type":"connect","at":"2026-01-05T08:00:00Z","sessionId":-1,"clientAddress":"x"}',
      '{"type":"Connect!","at":"2026-01-05T08:00:00Z","sessionId":1,"clientAddress":"x"}',
      '{"type":"connect","at":"2026-01-05T08:00:00Z","sessionId":1,"clientAddress":"x","bytes":"10"}',
    ].map((l) => p.parse(l));
    assert.deepEqual(errors.map((e) => (e.ok === false ? e.error.split(':')[0] : 'ok')), ['at', 'sessionId', 'type', 'bytes']);
  });
});
