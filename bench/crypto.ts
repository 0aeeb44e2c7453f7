// Crypto hot-path benchmark: data-key generation and decryption through Keyhold's SecretKey beside
// bare node:crypto AES-256-GCM of the same sizes, measured in one run, each SecretKey case with the
// native addon (when it loaded) and with node:crypto (the fallback). `node dist/bench/crypto.js`

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SecretKey, randomPool } from '../src/crypto/index.ts';
import { dataKeyCrypto } from '../src/crypto/native-crypto.ts';

const WARMUP_MS = 200;
const ROUNDS = 9;
const ROUND_MS = 30;
const MAX_ITERATIONS_PER_ROUND = 50_000;

interface Result {
  readonly name: string;
  /** Fastest round: the least disturbed by other load on a shared machine. */
  readonly best: number;
  readonly median: number;
}

/**
 * CPU nanoseconds per operation of every case over ROUNDS wall-time-boxed rounds after a warm-up
 * of all of them. The rounds are interleaved (case 1, case 2, …, case 1, …) so that a slow moment
 * of the shared machine hits every case alike. CPU time rather than wall time, so that being
 * descheduled does not count.
 */
function measureAll(cases: readonly (readonly [string, () => unknown])[]): Result[] {
  for (const [, op] of cases) {
    const deadline = performance.now() + WARMUP_MS;
    while (performance.now() < deadline) for (let i = 0; i < 100; i++) op();
  }
  const rounds = cases.map((): number[] => []);
  for (let r = 0; r < ROUNDS; r++) {
    cases.forEach(([, op], c) => {
      let n = 0;
      const start = process.cpuUsage();
      const stop = performance.now() + ROUND_MS;
      while (n < MAX_ITERATIONS_PER_ROUND && performance.now() < stop) {
        for (let i = 0; i < 100; i++) op();
        n += 100;
      }
      const used = process.cpuUsage(start);
      rounds[c]!.push(((used.user + used.system) * 1000) / n);
    });
  }
  return cases.map(([name], c) => {
    const sorted = rounds[c]!.sort((a, b) => a - b);
    return { name, best: sorted[0]!, median: sorted[Math.floor(ROUNDS / 2)]! };
  });
}

const aad = Buffer.from('{"bucket":"bucket/object"}');
const fixedKey = randomBytes(32);

// Baseline: the least node:crypto can do for the same job: fixed key, nonce from the same pool.
function rawSeal(plaintext: Buffer): Buffer {
  const nonce = randomPool.take(12);
  const cipher = createCipheriv('aes-256-gcm', fixedKey, nonce, { authTagLength: 16 });
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([body, cipher.getAuthTag(), nonce]);
}

function rawOpen(sealed: Buffer): Buffer {
  const n = sealed.length;
  const decipher = createDecipheriv('aes-256-gcm', fixedKey, sealed.subarray(n - 12), {
    authTagLength: 16,
  });
  decipher.setAuthTag(sealed.subarray(n - 28, n - 12));
  decipher.setAAD(aad);
  const plaintext = decipher.update(sealed.subarray(0, n - 28));
  decipher.final();
  return plaintext;
}

const aesKey = SecretKey.generate('AES256');
const chachaKey = SecretKey.generate('ChaCha20');
const dek = randomBytes(32);
const rawSealed = rawSeal(dek);
const aesCiphertext = aesKey.seal(dek, aad);
const chachaCiphertext = chachaKey.seal(dek, aad);

const native = dataKeyCrypto.native;
/** Runs `op` on node:crypto (the fallback) even when the addon loaded. */
const onNodeCrypto = (op: () => unknown) => (): unknown => {
  dataKeyCrypto.native = null;
  try {
    return op();
  } finally {
    dataKeyCrypto.native = native;
  }
};
const secretKeyCases: [string, () => unknown][] = [
  ['generate data key AES256', () => aesKey.generateDataKey(32, aad)],
  ['generate data key ChaCha20', () => chachaKey.generateDataKey(32, aad)],
  ['decrypt data key AES256', () => aesKey.open(aesCiphertext, aad)],
  ['decrypt data key ChaCha20', () => chachaKey.open(chachaCiphertext, aad)],
];
const results = measureAll([
  ['raw aes-256-gcm seal 32 B (baseline)', () => rawSeal(dek)],
  ['raw aes-256-gcm open 32 B (baseline)', () => rawOpen(rawSealed)],
  ...secretKeyCases.map(([name, op]): [string, () => unknown] => [
    `${name} ${native === null ? '(node:crypto)' : '(native)'}`,
    op,
  ]),
  ...(native === null
    ? []
    : secretKeyCases.map(([name, op]): [string, () => unknown] => [
        `${name} (node:crypto)`,
        onNodeCrypto(op),
      ])),
]);

const baseline = (name: string): Result => results[name.startsWith('generate') ? 0 : 1]!;
const ratio = (r: Result): number => r.best / baseline(r.name).best;

console.log(`node ${process.version} ${process.arch}: CPU ns per operation over ${ROUNDS} rounds`);
console.log(`native data-key crypto: ${native === null ? 'not loaded' : 'loaded'}`);
console.log('');
console.log(
  `${'case'.padEnd(40)} ${'best'.padStart(7)} ${'median'.padStart(7)} ${'vs raw'.padStart(7)}`,
);
for (const r of results) {
  const vs = r.name.includes('baseline') ? '' : `${ratio(r).toFixed(2)}x`;
  console.log(
    `${r.name.padEnd(40)} ${r.best.toFixed(0).padStart(7)} ${r.median.toFixed(0).padStart(7)} ${vs.padStart(7)}`,
  );
}
console.log('');
console.log(
  JSON.stringify({
    bench: 'crypto',
    node: process.version,
    unit: 'cpu-ns/op',
    native: native !== null,
    best: Object.fromEntries(results.map((r) => [r.name, Math.round(r.best)])),
    median: Object.fromEntries(results.map((r) => [r.name, Math.round(r.median)])),
    ratioToRaw: Object.fromEntries(
      results
        .filter((r) => !r.name.includes('baseline'))
        .map((r) => [r.name, +ratio(r).toFixed(3)]),
    ),
  }),
);
