// The route table: exact paths first, then the longest registered prefix, the same answer as
// checking every prefix in turn (what the table did before it looked prefixes up by path).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RouteTable } from './route.ts';
import type { Route } from './route.ts';

function route(path: string, prefix: boolean, method: Route['method'] = 'GET'): Route {
  return { method, path, prefix, maxBody: 0, timeout: 0, face: 'kms', handle: () => undefined };
}

/** The longest prefix route of `path` by a walk over all of them. */
function naive(
  routes: readonly Route[],
  path: string,
): { paths: string[]; resource: string } | undefined {
  const exact = routes.filter((r) => !r.prefix && r.path === path);
  if (exact.length > 0) return { paths: exact.map((r) => r.path), resource: '' };
  const prefixes = routes.filter((r) => r.prefix && path.startsWith(r.path));
  if (prefixes.length === 0) return undefined;
  const longest = Math.max(...prefixes.map((r) => r.path.length));
  const best = prefixes.filter((r) => r.path.length === longest);
  return { paths: best.map((r) => r.path), resource: path.slice(longest) };
}

describe('RouteTable', () => {
  it('matches an exact path, else the longest prefix, with the rest as the resource', () => {
    const table = new RouteTable()
      .add(route('/v1/kms', false))
      .add(route('/v1/kms/', true))
      .add(route('/v1/kms/', true, 'POST'))
      .add(route('/v1/key/generate/', true))
      .add(route('/v1/key/', true));
    assert.deepEqual(table.match('/v1/kms')?.resource, '');
    const kms = table.match('/v1/kms/default');
    assert.deepEqual(kms && { methods: kms.routes.map((r) => r.method), resource: kms.resource }, {
      methods: ['GET', 'POST'],
      resource: 'default',
    });
    assert.equal(table.match('/v1/key/generate/a/b')?.resource, 'a/b');
    assert.equal(table.match('/v1/key/generate/a/b')?.routes[0]?.path, '/v1/key/generate/');
    assert.equal(table.match('/v1/key/other')?.routes[0]?.path, '/v1/key/');
    assert.equal(table.match('/v1/key/')?.resource, '');
    assert.equal(table.match('/v1/ke'), undefined);
    assert.equal(table.match(''), undefined);
    assert.equal(table.match('v1/kms/x'), undefined);
  });

  it('answers as a walk over every prefix would, before and after each route is added', () => {
    const segment = fc.constantFrom('v1', 'key', 'kms', 'a', '', 'generate', '%2F');
    const path = fc
      .array(segment, { minLength: 0, maxLength: 6 })
      .chain((parts) =>
        fc.boolean().map((slash) => '/' + parts.join('/') + (slash && parts.length > 0 ? '/' : '')),
      );
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(path, fc.boolean()), { maxLength: 12, selector: (r) => r.join() }),
        fc.array(path, { maxLength: 20 }),
        (specs, paths) => {
          const routes = specs
            .filter(([p, prefix]) => !prefix || p.endsWith('/'))
            .map(([p, prefix]) => route(p, prefix));
          const table = new RouteTable();
          const all = [...paths, ...routes.map((r) => r.path + 'x/y')];
          // Matching every path again after each route is added: a remembered match must not
          // outlive the table it was made from.
          for (let added = 0; added <= routes.length; added++) {
            if (added > 0) table.add(routes[added - 1]!);
            for (const p of all) {
              const got = table.match(p);
              assert.deepEqual(
                got && { paths: got.routes.map((r) => r.path), resource: got.resource },
                naive(routes.slice(0, added), p),
                p,
              );
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses a prefix route whose path does not end in a slash', () => {
    assert.throws(() => new RouteTable().add(route('/v1/kms', true)), /a prefix ends in '\/'/);
  });
});
