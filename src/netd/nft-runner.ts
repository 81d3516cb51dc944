/**
 * Runs `nft` as a child process: an argv array, never a shell string, the ruleset on stdin, a
 * deadline, and bounded output. Optionally inside a network namespace (`ip netns exec <ns> nft`),
 * which is how a gateway with a dedicated routing namespace (and the namespace test) runs it.
 */
import { spawn } from 'node:child_process';
import { ZetaError } from '../common/errors.js';

export interface NftResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What netd needs from nft; tests may inject a fake. */
export interface NftRunner {
  /** Runs nft with these arguments (after the command prefix), writing `stdin` if given. */
  run(args: readonly string[], stdin?: string): Promise<NftResult>;
  /** The argv prefix, for logs and status. */
  readonly command: readonly string[];
}

export interface NftRunnerOptions {
  /** Run inside this network namespace (`ip netns exec <netns> ...`). */
  netns?: string;
  /** argv of nft itself; default `['nft']`. */
  nftCommand?: readonly string[];
  /** Per-invocation deadline; default 10 s. */
  timeoutMs?: number;
  /** Largest stdout/stderr kept, bytes; default 64 MiB (a listing of a large fleet's sets). */
  maxOutputBytes?: number;
}

const NETNS_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function nftCommandFor(options: Pick<NftRunnerOptions, 'netns' | 'nftCommand'> = {}): string[] {
  const nft = [...(options.nftCommand ?? ['nft'])];
  if (nft.length === 0 || nft.some((a) => typeof a !== 'string' || a.length === 0)) {
    throw new ZetaError('ZETA_ERR_CONFIG', 'netd: nftCommand must be a non-empty argv array');
  }
  if (options.netns === undefined) return nft;
  if (!NETNS_PATTERN.test(options.netns)) throw new ZetaError('ZETA_ERR_CONFIG', `netd: network namespace name ${JSON.stringify(options.netns)} is not valid`);
  return ['ip', 'netns', 'exec', options.netns, ...nft];
}

export function createNftRunner(options: NftRunnerOptions = {}): NftRunner {
  const command = Object.freeze(nftCommandFor(options));
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxBytes = options.maxOutputBytes ?? 64 * 1024 * 1024;
  return {
    command,
    run(args, stdin) {
      return new Promise<NftResult>((resolve) => {
        const [file, ...pre] = command as [string, ...string[]];
        const child = spawn(file, [...pre, ...args], { stdio: ['pipe', 'pipe', 'pipe'], shell: false });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let outBytes = 0;
        let errBytes = 0;
        let overflow = false;
        let settled = false;
        const finish = (r: NftResult): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(r);
        };
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          finish({ code: -1, stdout: '', stderr: `nft did not finish within ${timeoutMs} ms` });
        }, timeoutMs);
        child.stdout.on('data', (d: Buffer) => {
          outBytes += d.length;
          if (outBytes > maxBytes) { overflow = true; child.kill('SIGKILL'); } else out.push(d);
        });
        child.stderr.on('data', (d: Buffer) => {
          errBytes += d.length;
          if (errBytes <= 1024 * 1024) err.push(d);
        });
        child.on('error', (e) => finish({ code: -1, stdout: '', stderr: `cannot run ${command.join(' ')}: ${e.message}` }));
        child.on('close', (code, signal) => {
          if (overflow) return finish({ code: -1, stdout: '', stderr: `nft output exceeded ${maxBytes} bytes` });
          finish({ code: code ?? (signal === null ? -1 : 128), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
        });
        // EPIPE when nft exits early (bad argv) surfaces through 'close' with its exit code.
        child.stdin.on('error', () => undefined);
        child.stdin.end(stdin ?? '');
      });
    },
  };
}
