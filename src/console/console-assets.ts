// The console's static files: the page, its script and its style sheet, built by
// `scripts/build-console.js` into dist/console/ and served with a strict Content-Security-Policy
// (no inline script or style, nothing from another origin, never framed).

import { readFileSync } from 'node:fs';
import type { HttpResponse } from '../http/http-types.ts';

/** Where the build writes the bundle: dist/console/, beside dist/src/ (this file is in dist/src/console/). */
const ASSET_DIR = new URL('../../console/', import.meta.url);

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers of every console page and asset. */
export const PAGE_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

const FILES = new Map([
  ['', { file: 'index.html', type: 'text/html; charset=utf-8' }],
  ['assets/app.js', { file: 'app.js', type: 'text/javascript; charset=utf-8' }],
  ['assets/app.css', { file: 'app.css', type: 'text/css; charset=utf-8' }],
]);

/** Serves the console's files, read once on first use. */
export class ConsoleAssets {
  readonly #cache = new Map<string, Buffer | null>();

  /** True if `resource` (the path after `/console/`) is one of the files. */
  has(resource: string): boolean {
    return FILES.has(resource);
  }

  /** Answers the file for `resource`; 503 with a hint when the bundle was not built. */
  send(res: HttpResponse, resource: string): void {
    const spec = FILES.get(resource)!;
    let body = this.#cache.get(spec.file);
    if (body === undefined) {
      try {
        body = readFileSync(new URL(spec.file, ASSET_DIR));
      } catch {
        body = null;
      }
      this.#cache.set(spec.file, body);
    }
    if (body === null) {
      const text = 'the console was not built: run `npm run build` (scripts/build-console.js)\n';
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', ...PAGE_HEADERS });
      res.end(text);
      return;
    }
    res.writeHead(200, {
      ...PAGE_HEADERS,
      'Content-Type': spec.type,
      'Content-Length': body.length,
      // The page always revalidates; the bundle's names do not change between versions.
      'Cache-Control': 'no-cache',
    });
    res.end(body);
  }
}
