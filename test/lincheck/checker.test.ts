// The linearizability checker against Porcupine's histories (every one with its known verdict),
// small hand-written histories, and random histories cross-checked by plain enumeration.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { bruteForceLinearizable } from './brute-force.ts';
import { checkLinearizable, type CheckResult, type Model, type Operation } from './checker.ts';
import {
  keyStoreModel,
  type KeyStoreInput,
  type KeyStoreOutput,
  type KeyState,
} from './key-store-model.ts';
import { kvModel, type KvInput, type KvOutput } from './kv-model.ts';
import { parseJepsenLog, parseKvLog } from './porcupine-format.ts';
import { registerModel, type RegisterInput, type RegisterOutput } from './register-model.ts';

// Tests run from dist/test/lincheck; the histories stay in the source tree.
const testdata = new URL('../../../test/lincheck/testdata/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, testdata), 'utf8');

/** Porcupine's verdicts: these etcd logs are linearizable, every other one is not. */
const LINEARIZABLE_ETCD = new Set([
  2, 5, 7, 18, 25, 31, 38, 45, 48, 49, 51, 53, 56, 67, 75, 76, 80, 87, 92, 98, 100, 101, 102,
]);

const write = (value: number): RegisterInput => ({ op: 'write', value });
const readOp: RegisterInput = { op: 'read' };
const written: RegisterOutput = { kind: 'written' };
const got = (value: number | null): RegisterOutput => ({ kind: 'read', value });
const unknown = { kind: 'unknown' } as const;

/** Asserts the verdict and, for a violation, that its explanation is a real dead end. */
function assertVerdict<S, I, O>(
  model: Model<S, I, O>,
  result: CheckResult<S, I, O>,
  linearizable: boolean,
): void {
  assert.ok(!('unknown' in result), 'the check ran out of time');
  assert.equal(result.ok, linearizable, result.ok ? 'linearizable' : result.explanation);
  if (result.ok) return;
  let state = model.init();
  for (const op of result.linearized) {
    const [ok, next] = model.step(state, op.input, op.output);
    assert.ok(ok, 'the explained prefix replays');
    state = next;
  }
  assert.ok(model.equal(state, result.state), 'the explained state follows from the prefix');
  assert.ok(!result.linearized.includes(result.stuck));
  for (const op of result.linearized) {
    assert.ok(op.call <= result.stuck.return, 'the prefix lies before the stuck return');
  }
}

describe('Porcupine history formats', () => {
  test('a Jepsen log: ok completes, a failed cas is an observation, info leaves it open', () => {
    const log = [
      'INFO  jepsen.util - 0\t:invoke\t:write\t3',
      'INFO  jepsen.util - 1\t:invoke\t:cas\t[3 4]',
      'INFO  jepsen.util - 2\t:invoke\t:read\tnil',
      'INFO  jepsen.util - 0\t:ok\t:write\t3',
      'INFO  jepsen.util - 1\t:fail\t:cas\t[3 4]',
      'INFO  jepsen.util - 2\t:fail\t:read\t:timed-out',
      'INFO  jepsen.util - 3\t:invoke\t:write\t1',
      'INFO  jepsen.util - 3\t:info\t:write\t:timed-out',
      'INFO  jepsen.util - 4\t:invoke\t:read\tnil',
      'INFO  jepsen.util - 4\t:ok\t:read\t1',
      'some other line',
    ].join('\n');
    assert.deepEqual(parseJepsenLog(log), [
      { client: 0, input: write(3), output: written, call: 0, return: 3 },
      {
        client: 1,
        input: { op: 'cas', from: 3, to: 4 },
        output: { kind: 'cas', swapped: false },
        call: 1,
        return: 4,
      },
      { client: 2, input: readOp, output: unknown, call: 2, return: 5 },
      { client: 4, input: readOp, output: got(1), call: 8, return: 9 },
      { client: 3, input: write(1), output: unknown, call: 6, return: Infinity },
    ]);
  });

  test('a key-value log: one map per line, unfinished operations end unknown', () => {
    const log = [
      '{:process 0, :type :invoke, :f :append, :key "a", :value "x 0 0 y"}',
      '{:process 1, :type :invoke, :f :get, :key "a", :value nil}',
      '{:process 0, :type :ok, :f :append, :key "a", :value "x 0 0 y"}',
      '{:process 2, :type :invoke, :f :put, :key "b", :value "z"}',
      '{:process 1, :type :ok, :f :get, :key "a", :value "x 0 0 y"}',
      '',
    ].join('\n');
    assert.deepEqual(parseKvLog(log), [
      {
        client: 0,
        input: { op: 'append', key: 'a', value: 'x 0 0 y' },
        output: { kind: 'value', value: '' },
        call: 0,
        return: 2,
      },
      {
        client: 1,
        input: { op: 'get', key: 'a', value: '' },
        output: { kind: 'value', value: 'x 0 0 y' },
        call: 1,
        return: 4,
      },
      {
        client: 2,
        input: { op: 'put', key: 'b', value: 'z' },
        output: unknown,
        call: 3,
        return: Infinity,
      },
    ]);
    assert.throws(() => parseKvLog('{:process 0, :type :ok}'), SyntaxError);
  });
});

describe('Porcupine etcd register histories (Jepsen)', () => {
  const files = readdirSync(new URL('jepsen/', testdata)).filter((f) => f.endsWith('.log'));
  test('all 103 logs are present', () => assert.equal(files.length, 103));
  for (const file of files.sort()) {
    const number = Number(/etcd_(\d+)\.log/.exec(file)![1]);
    const text = read(`jepsen/${file}`);
    if (text.length === 0) {
      test(`${file} is the empty log with no verdict`, () => assert.equal(number, 95));
      continue;
    }
    const expected = LINEARIZABLE_ETCD.has(number);
    test(`${file} is ${expected ? '' : 'not '}linearizable`, () => {
      const history = parseJepsenLog(text);
      assert.ok(history.length > 0);
      assertVerdict(registerModel, checkLinearizable(registerModel, history), expected);
    });
  }
});

describe('Porcupine key-value histories (get/put/append, checked per key)', () => {
  for (const clients of ['c01', 'c10', 'c50']) {
    for (const [suffix, expected] of [
      ['ok', true],
      ['bad', false],
    ] as const) {
      test(`kv/${clients}-${suffix}.txt is ${expected ? '' : 'not '}linearizable`, () => {
        const history = parseKvLog(read(`kv/${clients}-${suffix}.txt`));
        assertVerdict(kvModel, checkLinearizable(kvModel, history), expected);
      });
    }
  }
});

/** One operation as [client, call, return, input, output]. */
type Row<I, O> = readonly [number, number, number, I, O];

/** Builds a history from rows. */
function history<I, O>(rows: readonly Row<I, O>[]): Operation<I, O>[] {
  return rows.map(([client, call, ret, input, output]) => ({
    client,
    input,
    output,
    call,
    return: ret,
  }));
}

describe('hand-written register histories', () => {
  const verdict = (rows: readonly Row<RegisterInput, RegisterOutput>[]): boolean => {
    const result = checkLinearizable(registerModel, history(rows));
    assert.ok(!('unknown' in result));
    assert.equal(result.ok, bruteForceLinearizable(registerModel, history(rows)));
    return result.ok;
  };

  test('a read after an acknowledged write that returns the older value is a stale read', () => {
    const result = checkLinearizable(
      registerModel,
      history([
        [0, 0, 10, write(1), written],
        [1, 20, 30, readOp, got(null)],
      ]),
    );
    assert.ok(!('unknown' in result) && !result.ok);
    assert.deepEqual(result.stuck.output, got(null));
    assert.match(result.explanation, /"value":null/);
  });

  test('concurrent writes may take effect in either order', () => {
    const writes = [
      [0, 0, 10, write(1), written],
      [1, 5, 15, write(2), written],
    ] as const;
    assert.equal(verdict([...writes, [2, 20, 30, readOp, got(1)]]), true);
    assert.equal(verdict([...writes, [2, 20, 30, readOp, got(2)]]), true);
    // ...but in one order only: two later reads cannot disagree.
    assert.equal(
      verdict([...writes, [2, 20, 25, readOp, got(1)], [2, 26, 30, readOp, got(2)]]),
      false,
    );
  });

  test('operations whose intervals touch are concurrent', () => {
    assert.equal(
      verdict([
        [0, 0, 10, write(1), written],
        [1, 10, 20, readOp, got(null)],
      ]),
      true,
    );
    assert.equal(
      verdict([
        [0, 0, 10, write(1), written],
        [1, 11, 20, readOp, got(null)],
      ]),
      false,
    );
  });

  test('the 6.824 quiz histories, with intervals and with zero-length operations', () => {
    // A put of 100 over [0, 100]: a read of 100 over [25, 75] and of nothing over [30, 60] fit.
    assert.equal(
      verdict([
        [0, 0, 100, write(100), written],
        [1, 25, 75, readOp, got(100)],
        [2, 30, 60, readOp, got(null)],
      ]),
      true,
    );
    // Once a read saw 200, a later read cannot see the register empty again.
    assert.equal(
      verdict([
        [0, 0, 100, write(200), written],
        [1, 10, 30, readOp, got(200)],
        [2, 40, 90, readOp, got(null)],
      ]),
      false,
    );
    assert.equal(
      verdict([
        [0, 0, 0, write(1), written],
        [1, 0, 0, readOp, got(1)],
      ]),
      true,
    );
    assert.equal(
      verdict([
        [0, 5, 5, write(1), written],
        [1, 6, 6, readOp, got(null)],
      ]),
      false,
    );
  });

  test('an indeterminate write may take effect late or never, but only once', () => {
    const pending = [0, 0, Infinity, write(1), unknown] as const;
    assert.equal(verdict([pending, [1, 5, 6, readOp, got(null)]]), true);
    assert.equal(
      verdict([pending, [1, 5, 6, readOp, got(null)], [1, 10, 12, readOp, got(1)]]),
      true,
    );
    assert.equal(
      verdict([pending, [1, 10, 12, readOp, got(1)], [1, 20, 22, readOp, got(null)]]),
      false,
    );
  });

  test('compare-and-set must report whether it swapped', () => {
    const cas = (from: number, to: number): RegisterInput => ({ op: 'cas', from, to });
    const swapped = (yes: boolean): RegisterOutput => ({ kind: 'cas', swapped: yes });
    assert.equal(
      verdict([
        [0, 0, 1, write(1), written],
        [0, 2, 3, cas(1, 2), swapped(true)],
        [0, 4, 5, readOp, got(2)],
      ]),
      true,
    );
    assert.equal(
      verdict([
        [0, 0, 1, write(1), written],
        [0, 2, 3, cas(1, 2), swapped(false)],
      ]),
      false,
    );
    assert.equal(
      verdict([
        [0, 0, 1, write(1), written],
        [0, 2, 3, cas(3, 2), swapped(true)],
      ]),
      false,
    );
  });

  test('a spent budget answers unknown instead of a verdict', () => {
    const log = parseJepsenLog(read('jepsen/etcd_000.log'));
    assert.deepEqual(checkLinearizable(registerModel, log, { maxSteps: 10 }), {
      unknown: 'timeout',
    });
    assert.deepEqual(checkLinearizable(registerModel, log, { timeoutMs: -1 }), {
      unknown: 'timeout',
    });
  });
});

describe('hand-written key-store histories', () => {
  type KeyRow = Row<KeyStoreInput, KeyStoreOutput>;
  const op = (name: 'create' | 'delete' | 'status' | 'generate', key = 'k'): KeyStoreInput => ({
    op: name,
    key,
  });
  const out = (kind: KeyStoreOutput['kind']): KeyStoreOutput => ({ kind });
  const verdict = (rows: readonly KeyRow[]): boolean => {
    const result = checkLinearizable(keyStoreModel, history(rows));
    assert.ok(!('unknown' in result));
    assert.equal(result.ok, bruteForceLinearizable(keyStoreModel, history(rows)));
    return result.ok;
  };
  const created: KeyRow = [0, 0, 10, op('create'), out('ok')];
  const deleted: KeyRow = [0, 20, 30, op('delete'), out('ok')];

  test('a key used after its deletion was acknowledged is not linearizable', () => {
    const result = checkLinearizable(
      keyStoreModel,
      history([created, deleted, [1, 40, 50, op('generate'), out('ok')]]),
    );
    assert.ok(!('unknown' in result) && !result.ok);
    assert.equal(result.stuck.input.op, 'generate');
    assert.deepEqual(result.state, { exists: false, incarnation: 1, sealed: [] });
  });

  test('a use concurrent with the deletion may come before it', () => {
    assert.equal(verdict([created, deleted, [1, 25, 35, op('generate'), out('ok')]]), true);
    assert.equal(verdict([created, deleted, [1, 25, 35, op('generate'), out('not-found')]]), true);
    assert.equal(verdict([created, deleted, [1, 40, 50, op('status'), out('not-found')]]), true);
    assert.equal(verdict([created, deleted, [1, 40, 50, op('status'), out('ok')]]), false);
  });

  test('create fails exactly when the key exists', () => {
    assert.equal(verdict([created, [1, 20, 30, op('create'), out('exists')]]), true);
    assert.equal(verdict([created, [1, 20, 30, op('create'), out('ok')]]), false);
    assert.equal(verdict([created, [1, 5, 30, op('create'), out('ok')]]), false);
    assert.equal(verdict([created, deleted, [1, 40, 50, op('create'), out('ok')]]), true);
    assert.equal(verdict([[1, 0, 10, op('create', 'other'), out('ok')], created]), true);
  });

  test('a ciphertext decrypts only under the key incarnation that sealed it', () => {
    const sealed: KeyRow = [1, 12, 14, { op: 'generate', key: 'k', id: 7 }, out('ok')];
    const decrypt = (call: number, kind: KeyStoreOutput['kind']): KeyRow => [
      1,
      call,
      call + 5,
      { op: 'decrypt', key: 'k', sealedBy: 7 },
      out(kind),
    ];
    assert.equal(verdict([created, sealed, decrypt(15, 'ok')]), true);
    assert.equal(verdict([created, sealed, decrypt(15, 'not-authentic')]), false);
    assert.equal(verdict([created, sealed, deleted, decrypt(35, 'not-found')]), true);
    assert.equal(verdict([created, sealed, deleted, decrypt(35, 'ok')]), false);
    const recreated: KeyRow = [0, 40, 50, op('create'), out('ok')];
    assert.equal(
      verdict([created, sealed, deleted, recreated, decrypt(60, 'not-authentic')]),
      true,
    );
    assert.equal(verdict([created, sealed, deleted, recreated, decrypt(60, 'ok')]), false);
  });
});

/**
 * A model under random testing: how raw choices become an input (given the operations so far) and
 * the finite outputs an input can have; a sequential run picks the one the model accepts.
 */
interface Subject<S, I, O> {
  readonly name: string;
  readonly model: Model<S, I, O>;
  input(choice: readonly [number, number, number], earlier: readonly { input: I; output: O }[]): I;
  /** The outputs to choose among, exactly one of which the model accepts in `state`. */
  outputs(input: I, state: S): readonly O[];
  /** The part of the model's partition an input belongs to. */
  keyOf(input: I): string;
  readonly unknown: O;
}

const subjects = [
  {
    name: 'register',
    model: registerModel,
    input: ([f, a, b]) =>
      f % 3 === 0 ? readOp : f % 3 === 1 ? write(a % 3) : { op: 'cas', from: a % 3, to: b % 3 },
    outputs: (input) =>
      input.op === 'read'
        ? [null, 0, 1, 2].map(got)
        : input.op === 'write'
          ? [written]
          : [true, false].map((swapped) => ({ kind: 'cas', swapped })),
    keyOf: () => '',
    unknown,
  } satisfies Subject<number | null, RegisterInput, RegisterOutput>,
  {
    name: 'key-value',
    model: kvModel,
    input: ([f, a, b]) => ({
      op: (['get', 'put', 'append'] as const)[f % 3]!,
      key: a % 2 === 0 ? 'a' : 'b',
      value: f % 3 === 0 ? '' : b % 2 === 0 ? 'x' : 'y',
    }),
    outputs: (input, state) =>
      (input.op === 'get' ? [...new Set([state, '', 'x', `${state}x`, `y${state}`])] : ['']).map(
        (value) => ({ kind: 'value' as const, value }),
      ),
    keyOf: (input) => input.key,
    unknown,
  } satisfies Subject<string, KvInput, KvOutput>,
  {
    name: 'key store',
    model: keyStoreModel,
    input: ([f, a, b], earlier): KeyStoreInput => {
      const key = a % 2 === 0 ? 'k' : 'j';
      const op = (['create', 'delete', 'status', 'generate', 'decrypt'] as const)[f % 5]!;
      if (op === 'generate') return { op, key, id: earlier.length };
      if (op !== 'decrypt') return { op, key };
      // Decrypt only what an earlier generate under this key sealed.
      const sealedBy = earlier
        .map((e, id) =>
          e.input.op === 'generate' && e.input.key === key && e.output.kind === 'ok' ? id : -1,
        )
        .filter((id) => id >= 0);
      return sealedBy.length === 0
        ? { op: 'status', key }
        : { op, key, sealedBy: sealedBy[b % sealedBy.length]! };
    },
    outputs: () =>
      (['ok', 'exists', 'not-found', 'not-authentic'] as const).map((kind) => ({ kind })),
    keyOf: (input) => input.key,
    unknown,
  } satisfies Subject<KeyState, KeyStoreInput, KeyStoreOutput>,
] as const;

/**
 * A sequential run of the model, spread over time: operation i takes effect at 10·(i+1) and its
 * interval stretches a random amount either side of that point, so intervals overlap but the
 * run's order always remains a valid linearization. Some operations end unknown and never return.
 * Each operation comes with the outputs the run did not give it (to mutate it with).
 */
function spreadRun<S, I, O>(subject: Subject<S, I, O>, maxLength: number) {
  const step = fc.record({
    choice: fc.tuple(fc.nat(), fc.nat(), fc.nat()),
    before: fc.nat({ max: 30 }),
    after: fc.nat({ max: 30 }),
    lost: fc.nat({ max: 9 }),
  });
  return fc.array(step, { minLength: 1, maxLength }).map((steps) => {
    const done: { input: I; output: O }[] = [];
    const ops: { op: Operation<I, O>; others: O[] }[] = [];
    const states = new Map<string, S>();
    for (const [i, { choice, before, after, lost }] of steps.entries()) {
      const input = subject.input(choice, done);
      const key = subject.keyOf(input);
      const state = states.get(key) ?? subject.model.init();
      const outputs = subject.outputs(input, state);
      const fitting = outputs.filter((o) => subject.model.step(state, input, o)[0]);
      assert.equal(fitting.length, 1, `one output fits ${JSON.stringify(input)}`);
      const output = fitting[0]!;
      const others = outputs.filter((o) => o !== output);
      states.set(key, subject.model.step(state, input, output)[1]);
      // What a client saw: a lost operation's result cannot be used later (no ciphertext to decrypt).
      done.push({ input, output: lost === 0 ? subject.unknown : output });
      const at = 10 * (i + 1);
      ops.push({
        op:
          lost === 0
            ? { client: i, input, output: subject.unknown, call: at - before, return: Infinity }
            : { client: i, input, output, call: at - before, return: at + after },
        others: lost === 0 ? [] : others,
      });
    }
    return ops;
  });
}

describe('random histories', () => {
  for (const subject of subjects as readonly Subject<unknown, unknown, unknown>[]) {
    test(`${subject.name}: a sequential run with real-time jitter is always linearizable`, () => {
      fc.assert(
        fc.property(spreadRun(subject, 40), (run) => {
          const ops = run.map(({ op }) => op);
          assert.deepEqual(checkLinearizable(subject.model, ops), { ok: true });
        }),
        { numRuns: 200 },
      );
    });

    test(`${subject.name}: the checker agrees with enumeration on mutated runs of up to 6 operations`, () => {
      const verdicts = { linearizable: 0, not: 0 };
      fc.assert(
        fc.property(spreadRun(subject, 6), fc.nat(), fc.nat(), (run, which, pick) => {
          const target = which % run.length;
          const mutated = run.map(({ op, others }, i) =>
            i === target && others.length > 0
              ? { ...op, output: others[pick % others.length]! }
              : op,
          );
          const result = checkLinearizable(subject.model, mutated);
          assert.ok(!('unknown' in result));
          assert.equal(result.ok, bruteForceLinearizable(subject.model, mutated));
          verdicts[result.ok ? 'linearizable' : 'not']++;
        }),
        { numRuns: 300 },
      );
      // Both verdicts must occur, or the comparison proved little.
      assert.ok(verdicts.linearizable > 20 && verdicts.not > 20, JSON.stringify(verdicts));
    });
  }
});
