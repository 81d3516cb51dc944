/**
 * The dashboard: the built single-page app (web/dist) at the root of the HTTPS API port, with an
 * SPA fallback for paths outside /api and /.well-known. The app shell holds no data: every page
 * reads the API with the operator's session, so an unauthenticated visitor gets the login form only.
 *
 * Files are read once into memory (the build is a few hundred kB) from a fixed list made by walking
 * the directory, so a request path is only ever a lookup key, never joined onto the file system.
 */
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative, sep, extname } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ZetaError } from '../common/errors.js';
import { endStreams } from './routes-dashboard.js';

export const DEFAULT_DIST_DIR = join(import.meta.dirname, '..', '..', 'web', 'dist');

/**
 * CSP Level 3: scripts, styles and connections only from this origin, no inline script, no plugins,
 * never framed (clickjacking on the action buttons). React sets styles through CSSOM, which
 * style-src does not restrict, so no 'unsafe-inline' is needed anywhere.
 */
const CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "font-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
  // The port is HTTPS only (RFC 6797).
  'strict-transport-security': 'max-age=31536000',
};

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2', '.map': 'application/json',
};

interface StaticFile { body: Buffer; type: string; immutable: boolean }

const MISSING_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Zeta dashboard not built</title></head>
<body><h1>The Zeta dashboard is not built</h1>
<p>This server has no dashboard files. Build them once with <code>npm run build:web</code> and restart <code>zeta serve</code>.
The API under <code>/api/v1</code> works without them.</p></body></html>
`;

function loadDist(dir: string): Map<string, StaticFile> | undefined {
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const files = new Map<string, StaticFile>();
  const walk = (d: string, depth: number): void => {
    if (depth > 8) return;
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      const st = statSync(full);
      if (st.isDirectory()) walk(full, depth + 1);
      else if (st.isFile() && st.size <= 8 * 1024 * 1024) {
        const url = '/' + relative(dir, full).split(sep).join('/');
        const type = TYPES[extname(name)] ?? 'application/octet-stream';
        // Vite names everything under assets/ by content hash: such a URL never changes meaning.
        files.set(url, { body: readFileSync(full), type, immutable: url.startsWith('/assets/') });
      }
    }
  };
  walk(dir, 0);
  return files;
}

function send(reply: FastifyReply, status: number, file: StaticFile): FastifyReply {
  return reply.status(status).headers(SECURITY_HEADERS).type(file.type)
    .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
    .send(file.body);
}

/** Paths that belong to the API, EST or metrics: never answered with the app shell. */
function isServerPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/') || path.startsWith('/.well-known/') || path === '/metrics';
}

export function registerDashboard(app: FastifyInstance, options: { distDir?: string } = {}): void {
  const dir = options.distDir ?? DEFAULT_DIST_DIR;
  let files = loadDist(dir);
  const handler = async (method: 'GET', url: string, reply: FastifyReply): Promise<FastifyReply> => {
    const path = url.split('?')[0] ?? '/';
    if (isServerPath(path)) throw new ZetaError('ZETA_ERR_NOT_FOUND', `no route ${method} ${path}`);
    // Built after the server started: pick it up without a restart.
    files ??= loadDist(dir);
    if (files === undefined) {
      return send(reply, 200, { body: Buffer.from(MISSING_PAGE), type: 'text/html; charset=utf-8', immutable: false });
    }
    const hit = files.get(path);
    if (hit !== undefined) return send(reply, 200, hit);
    // A missing hashed asset is a 404, not the shell (a stale tab must not execute HTML as JS).
    if (path.startsWith('/assets/') || extname(path) !== '') throw new ZetaError('ZETA_ERR_NOT_FOUND', `no file ${path}`);
    const shell = files.get('/index.html');
    if (shell === undefined) throw new ZetaError('ZETA_ERR_NOT_FOUND', 'no index.html');
    return send(reply, 200, shell);
  };
  // The dashboard's live streams never go idle: end them when the server starts closing.
  app.addHook('preClose', (done) => { endStreams(app); done(); });
  // Fastify answers HEAD from these GET routes (exposeHeadRoutes), without the body.
  app.get('/', async (req, reply) => handler('GET', req.url, reply));
  app.get('/*', async (req, reply) => handler('GET', req.url, reply));
}
