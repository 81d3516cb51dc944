/** Output for the `zeta` command: `--json` everywhere, readable text otherwise, errors that say what to do next. */
import { isZetaError } from '../common/errors.js';

export interface OutputOptions {
  json?: boolean;
}

export function print(value: unknown, opts: OutputOptions, human?: (v: never) => string): void {
  if (opts.json === true || human === undefined) {
    process.stdout.write(JSON.stringify(value, null, opts.json === true ? 2 : 2) + '\n');
  } else {
    process.stdout.write(human(value as never) + '\n');
  }
}

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = rows.map((r) => columns.map((c) => (r[c] === null || r[c] === undefined ? '-' : String(r[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]): string => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

/** Prints an error (as problem JSON with --json) and sets the exit code; never a stack trace for known errors. */
export function reportError(e: unknown, opts: OutputOptions): void {
  if (isZetaError(e)) {
    if (opts.json === true) {
      process.stdout.write(JSON.stringify({ error: { code: e.code, message: e.message, hint: e.hint, ...(e.fields ?? {}) } }, null, 2) + '\n');
    } else {
      process.stderr.write(`error: ${e.message}\n  ${e.hint}\n  (${e.code})\n`);
    }
    process.exitCode = e.status === 500 ? 1 : e.status >= 400 && e.status < 500 ? 2 : 1;
    return;
  }
  if (opts.json === true) process.stdout.write(JSON.stringify({ error: { code: 'ZETA_ERR_INTERNAL', message: String((e as Error)?.message ?? e) } }) + '\n');
  else process.stderr.write(`error: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exitCode = 1;
}

/** A progress bar on stderr: redrawn in place on a terminal, a few plain lines otherwise. */
export class ProgressBar {
  readonly #label: string;
  readonly #start = Date.now();
  #lastPct = -1;
  readonly #tty = process.stderr.isTTY === true;
  readonly #quiet: boolean;

  constructor(label: string, quiet = false) {
    this.#label = label;
    this.#quiet = quiet;
  }

  update(done: number, total: number): void {
    if (this.#quiet || total <= 0) return;
    const pct = Math.floor((done / total) * 100);
    if (this.#tty) {
      if (pct === this.#lastPct && done !== total) return;
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      const secs = ((Date.now() - this.#start) / 1000).toFixed(1);
      process.stderr.write(`\r${this.#label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${pct}% ${done}/${total} ${secs}s`);
      if (done >= total) process.stderr.write('\n');
    } else if (Math.floor(pct / 25) !== Math.floor(this.#lastPct / 25) || (done >= total && this.#lastPct !== 100)) {
      process.stderr.write(`${this.#label}: ${pct}% (${done}/${total})\n`);
    }
    this.#lastPct = pct;
  }
}
