// SortedNames against a naive model: any interleaving of inserts, deletes, sorted bulk loads and
// paged listings gives the pages a fully sorted copy would.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SortedNames } from './sorted-names.ts';

type Step =
  | { readonly kind: 'set'; readonly name: string }
  | { readonly kind: 'delete'; readonly name: string }
  | {
      readonly kind: 'page';
      readonly prefix: string;
      readonly from: string;
      readonly limit: number;
    };

const name = fc.stringMatching(/^[a-c]{1,3}$/);
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), name }),
  fc.record({ kind: fc.constant('delete' as const), name }),
  fc.record({
    kind: fc.constant('page' as const),
    prefix: fc.stringMatching(/^[a-c]{0,2}$/),
    from: fc.oneof(fc.constant(''), name),
    limit: fc.integer({ min: 1, max: 5 }),
  }),
);

function modelPage(
  model: Map<string, number>,
  prefix: string,
  continueAt: string,
  limit: number,
): { items: number[]; continueAt: string } {
  const from = continueAt !== '' && continueAt > prefix ? continueAt : prefix;
  const names = [...model.keys()].filter((n) => n.startsWith(prefix) && n >= from).sort();
  return {
    items: names.slice(0, limit).map((n) => model.get(n)!),
    continueAt: names[limit] ?? '',
  };
}

describe('SortedNames', () => {
  it('pages like a fully sorted copy under any mix of changes', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(name, { maxLength: 6 }),
        fc.array(step, { maxLength: 60 }),
        (initial, steps) => {
          const names = new SortedNames<number>();
          const model = new Map<string, number>();
          let value = 0;
          for (const n of [...initial].sort()) {
            names.append(n, ++value);
            model.set(n, value);
          }
          for (const s of steps) {
            if (s.kind === 'set') {
              names.set(s.name, ++value);
              model.set(s.name, value);
            } else if (s.kind === 'delete') {
              assert.equal(names.delete(s.name), model.delete(s.name));
            } else {
              assert.deepEqual(
                names.page(s.prefix, s.from, s.limit),
                modelPage(model, s.prefix, s.from, s.limit),
              );
            }
            assert.equal(names.size, model.size);
          }
          assert.deepEqual([...names.sortedNames()], [...model.keys()].sort());
        },
      ),
      { numRuns: 500 },
    );
  });

  it('keeps a large listing in order through interleaved changes and listings', () => {
    const names = new SortedNames<number>();
    for (let i = 0; i < 200_000; i++) names.append(`key-${String(i * 2).padStart(8, '0')}`, i);
    assert.equal(names.page('', '', 1).continueAt, 'key-00000002');
    // The cost of these listings (linear merges, not sorts) is measured by `npm run bench`.
    for (let i = 0; i < 50; i++) {
      names.set(`key-${String(i * 4001 + 1).padStart(8, '0')}`, -i);
      names.delete(`key-${String(i * 2).padStart(8, '0')}`);
      const page = names.page('key-0000', '', 3);
      assert.equal(page.items.length, 3);
    }
    assert.deepEqual(names.pageNames('key-00000', '', 3), {
      names: ['key-00000001', 'key-00000100', 'key-00000102'],
      continueAt: 'key-00000104',
    });
  });
});
