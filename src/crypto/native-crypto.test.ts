// The native data-key crypto against node:crypto: the repository's vectors (minkms §6.2, Wycheproof
// HMAC-SHA256 and AEAD inputs, the HChaCha20 draft vector), random seal/open/tamper properties up to
// 4096 bytes, bad input, a worker thread, and the loader's fallback (KEYHOLD_NATIVE_CRYPTO=0, a
// failing self-test). The addon must have loaded here unless KEYHOLD_NATIVE_CRYPTO=0.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { aeadSeal } from './aead.ts';
import { NotAuthenticError } from './errors.ts';
import { hchacha20 } from './hchacha20.ts';
import { HmacSha256 } from './hmac-sha256.ts';
import { KEY_TYPES, type KeyType } from './key-type.ts';
import {
  NATIVE_ALGORITHM,
  dataKeyCrypto,
  dataKeyCryptoInfo,
  auditChainNative,
  chainSelfTest,
  selfTest,
  type NativeCrypto,
} from './native-crypto.ts';
import { SecretKey } from './secret-key.ts';

const FORCED_OFF = process.env.KEYHOLD_NATIVE_CRYPTO === '0';
const loaded = dataKeyCrypto.native;

/** The addon; fails the test (not skips it) when it did not load, unless turned off on purpose. */
function addon(): NativeCrypto {
  assert.ok(
    loaded !== null,
    `the native addon did not load (${dataKeyCryptoInfo.reason}): run npm run build:native, or set KEYHOLD_NATIVE_CRYPTO=0 to test only the fallback`,
  );
  return loaded;
}

const nativeTest = (name: string, fn: () => void | Promise<void>): void => {
  test(name, { skip: FORCED_OFF && 'KEYHOLD_NATIVE_CRYPTO=0' }, fn);
};

/** The node:crypto composition SecretKey falls back to: sub-key, then AEAD ‖ iv ‖ nonce. */
function nodeSeal(
  type: KeyType,
  key: Buffer,
  iv: Buffer,
  nonce: Buffer,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Buffer {
  const subKey = type === 'AES256' ? new HmacSha256(key).digest(iv) : hchacha20(key, iv);
  return Buffer.concat([aeadSeal(type, subKey, nonce, plaintext, aad), iv, nonce]);
}

function nativeSeal(
  type: KeyType,
  key: Buffer,
  iv: Buffer,
  nonce: Buffer,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Buffer {
  const out = Buffer.alloc(plaintext.length + 44);
  iv.copy(out, plaintext.length + 16);
  nonce.copy(out, plaintext.length + 32);
  addon().seal(NATIVE_ALGORITHM[type], key, plaintext, aad, out);
  return out;
}

/** Opens a raw ciphertext with the addon: the plaintext, or undefined when not authentic. */
function nativeOpen(type: KeyType, key: Buffer, raw: Buffer, aad: Uint8Array): Buffer | undefined {
  const n = raw.length - 44;
  const out = Buffer.alloc(n);
  const iv = raw.subarray(n + 16, n + 32);
  const nonce = raw.subarray(n + 32);
  const ok = addon().open(
    NATIVE_ALGORITHM[type],
    key,
    iv,
    nonce,
    raw.subarray(0, n + 16),
    aad,
    out,
  );
  if (!ok) {
    assert.ok(
      out.every((b) => b === 0),
      'a failed open leaves zeros',
    );
    return undefined;
  }
  return out;
}

/** Runs `fn` with SecretKey on node:crypto. */
function onNodeCrypto<T>(fn: () => T): T {
  dataKeyCrypto.native = null;
  try {
    return fn();
  } finally {
    dataKeyCrypto.native = loaded;
  }
}

/** The error SecretKey.open throws, or 'opened'. */
function openOutcome(key: SecretKey, ciphertext: Buffer, aad: Uint8Array): unknown {
  try {
    key.open(ciphertext, aad);
    return 'opened';
  } catch (error) {
    return error;
  }
}

const range = (from: number, to: number): Buffer =>
  Buffer.from(Array.from({ length: to - from }, (_, i) => from + i));

test('the addon loaded here, or was turned off on purpose', () => {
  if (FORCED_OFF) {
    assert.deepEqual(dataKeyCryptoInfo, {
      backend: 'node:crypto',
      reason: 'KEYHOLD_NATIVE_CRYPTO=0',
    });
    assert.equal(loaded, null);
  } else {
    addon();
    assert.deepEqual(dataKeyCryptoInfo, { backend: 'native', reason: '' });
  }
});

nativeTest('minkms §6.2 vectors: the addon writes the same ciphertexts and opens them', () => {
  const key = range(0x00, 0x20);
  const iv = range(0x20, 0x30);
  const nonce = range(0x30, 0x3c);
  const plaintext = range(0x40, 0x60);
  const aad = Buffer.from('{"bucket":"bucket/object"}');
  const sealed = {
    AES256:
      'b4bc742a467f610a69b447ec9f99cf567a11f1072a446ee9666a64ba3051d6488265b42bac803dcc21425864daa76e59',
    ChaCha20:
      'eb00bd149395c6ec2b9bf828b3c3d0fecd42c53dfda108b8c320dc478b02b0dd61cbb528c543fb995100230df4d6e12c',
  } as const;
  for (const type of KEY_TYPES) {
    const raw = Buffer.concat([Buffer.from(sealed[type], 'hex'), iv, nonce]);
    assert.deepEqual(nativeSeal(type, key, iv, nonce, plaintext, aad), raw, type);
    assert.deepEqual(nativeOpen(type, key, raw, aad), plaintext, type);
    const other = type === 'AES256' ? 'ChaCha20' : 'AES256';
    assert.equal(nativeOpen(other, key, raw, aad), undefined, `${type} under ${other}`);
  }
});

nativeTest('Wycheproof HMAC-SHA256 (32-byte keys, 16-byte messages): the AES256 sub-key', () => {
  interface MacCase {
    tcId: number;
    key: string;
    msg: string;
    tag: string;
    result: string;
  }
  const url = new URL(
    '../../../src/crypto/testdata/wycheproof/hmac_sha256_test.json',
    import.meta.url,
  );
  const groups = (
    JSON.parse(readFileSync(url, 'utf8')) as {
      testGroups: { keySize: number; tagSize: number; tests: MacCase[] }[];
    }
  ).testGroups;
  const nonce = range(0x30, 0x3c);
  const plaintext = range(0x40, 0x60);
  let count = 0;
  for (const group of groups) {
    if (group.keySize !== 256 || group.tagSize !== 256) continue;
    for (const c of group.tests) {
      if (c.result !== 'valid' || c.msg.length !== 32) continue;
      // The tag is HMAC-SHA256(key, msg): sealing under it directly must give the addon's bytes.
      const key = Buffer.from(c.key, 'hex');
      const iv = Buffer.from(c.msg, 'hex');
      const expected = Buffer.concat([
        aeadSeal('AES256', Buffer.from(c.tag, 'hex'), nonce, plaintext),
        iv,
        nonce,
      ]);
      assert.deepEqual(nativeSeal('AES256', key, iv, nonce, plaintext, Buffer.alloc(0)), expected);
      count++;
    }
  }
  assert.ok(count >= 1, 'some Wycheproof cases have a 32-byte key and a 16-byte message');
});

nativeTest('draft-irtf-cfrg-xchacha §2.2.1 HChaCha20 vector: the ChaCha20 sub-key', () => {
  const key = range(0, 32);
  const iv = Buffer.from('000000090000004a0000000031415927', 'hex');
  const subKey = Buffer.from(
    '82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc',
    'hex',
  );
  const nonce = range(0x30, 0x3c);
  const plaintext = range(0x40, 0x60);
  const expected = Buffer.concat([aeadSeal('ChaCha20', subKey, nonce, plaintext), iv, nonce]);
  assert.deepEqual(nativeSeal('ChaCha20', key, iv, nonce, plaintext, Buffer.alloc(0)), expected);
});

nativeTest('Wycheproof AEAD inputs: the addon and node:crypto agree byte for byte', () => {
  interface AeadCase {
    tcId: number;
    key: string;
    iv: string;
    aad: string;
    msg: string;
  }
  let count = 0;
  for (const [file, type] of [
    ['aes_gcm_test.json', 'AES256'],
    ['chacha20_poly1305_test.json', 'ChaCha20'],
  ] as const) {
    const url = new URL(`../../../src/crypto/testdata/wycheproof/${file}`, import.meta.url);
    const groups = (
      JSON.parse(readFileSync(url, 'utf8')) as {
        testGroups: { keySize: number; ivSize: number; tests: AeadCase[] }[];
      }
    ).testGroups;
    for (const group of groups) {
      if (group.keySize !== 256 || group.ivSize !== 96) continue;
      for (const c of group.tests) {
        // The vector's key as the master key, its IV as the AEAD nonce, a sub-key IV from its id.
        const key = Buffer.from(c.key, 'hex');
        const nonce = Buffer.from(c.iv, 'hex');
        const iv = createHash('sha256').update(String(c.tcId)).digest().subarray(0, 16);
        const msg = Buffer.from(c.msg, 'hex');
        const aad = Buffer.from(c.aad, 'hex');
        const raw = nodeSeal(type, key, iv, nonce, msg, aad);
        assert.deepEqual(nativeSeal(type, key, iv, nonce, msg, aad), raw, `${file} ${c.tcId}`);
        assert.deepEqual(nativeOpen(type, key, raw, aad), msg, `${file} ${c.tcId}`);
        count++;
      }
    }
  }
  assert.ok(count > 100, `only ${count} cases`);
});

nativeTest(
  'property: same bytes as node:crypto, each opens the other, tampering fails alike',
  () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...KEY_TYPES),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 4096 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.nat(),
        (type, keyBytes, plaintext, aad, flip) => {
          const key = new SecretKey(type, keyBytes);
          const viaNative = key.seal(plaintext, aad);
          const n = plaintext.length;
          // The same IV and nonce through node:crypto give the same bytes.
          const iv = viaNative.subarray(n + 16, n + 32);
          const nonce = viaNative.subarray(n + 32);
          const master = Buffer.from(keyBytes);
          assert.deepEqual(nodeSeal(type, master, iv, nonce, plaintext, aad), viaNative);
          const viaNode = onNodeCrypto(() => key.seal(plaintext, aad));
          assert.deepEqual(key.open(viaNode, aad), Buffer.from(plaintext));
          assert.deepEqual(
            onNodeCrypto(() => key.open(viaNative, aad)),
            Buffer.from(plaintext),
          );
          // One flipped bit anywhere, or other associated data: the same error on both paths.
          const tampered = Buffer.from(viaNative);
          const bit = flip % (tampered.length * 8);
          tampered[bit >> 3] = tampered[bit >> 3]! ^ (1 << (bit & 7));
          const otherAad = Buffer.concat([aad, Buffer.of(1)]);
          for (const [ciphertext, ad] of [
            [tampered, aad],
            [viaNative, otherAad],
          ] as const) {
            const native = openOutcome(key, ciphertext, ad);
            const fallback = onNodeCrypto(() => openOutcome(key, ciphertext, ad));
            assert.ok(native instanceof NotAuthenticError, 'native: NotAuthenticError');
            assert.ok(fallback instanceof NotAuthenticError, 'node:crypto: NotAuthenticError');
            assert.equal(native.message, fallback.message);
          }
        },
      ),
      { numRuns: 300 },
    );
  },
);

/** The audit chain's lines as node:crypto makes them (the format chainLines writes). */
function nodeChain(key: Uint8Array, prev: Buffer, seq: number, texts: readonly string[]): string {
  let out = '';
  for (const text of texts) {
    if (text === '') continue;
    const body = `${text.slice(0, -1)},"seq":${seq++}`;
    prev = createHmac('sha256', key).update(prev).update(body).digest();
    out += `${body},"mac":"${prev.toString('hex')}"}\n`;
  }
  return out;
}

nativeTest('chainLines MACs and writes the audit chain as node:crypto does', () => {
  const native = addon();
  const chainLines = native.chainLines?.bind(native);
  assert.ok(chainLines, 'the addon has chainLines');
  assert.ok(auditChainNative.chainLines !== null, 'the audit chain uses it');
  assert.equal(chainSelfTest(native), true);
  const pads = (key: Uint8Array, size: number): { inner: Buffer; outer: Buffer } => {
    const inner = Buffer.alloc(size, 0xee);
    const outer = Buffer.alloc(64, 0xee);
    for (let i = 0; i < 64; i++) {
      inner[i] = (key[i] ?? 0) ^ 0x36;
      outer[i] = (key[i] ?? 0) ^ 0x5c;
    }
    return { inner, outer };
  };
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 64 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.array(fc.oneof(fc.constant(''), fc.string({ unit: 'binary', maxLength: 300 })), {
        maxLength: 12,
      }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 20 }),
      (key, start, values, seq) => {
        const texts = values.map((v) => (v === '' ? '' : `{"v":${JSON.stringify(v)}}`));
        const bytes = Buffer.from(texts.join('\n'));
        const { inner, outer } = pads(key, 96 + bytes.length + 30);
        const prev = Buffer.from(start);
        const out = Buffer.alloc(bytes.length + texts.length * 105);
        const written = chainLines(bytes, inner, outer, prev, seq, out);
        assert.equal(
          out.toString('utf8', 0, written),
          nodeChain(key, Buffer.from(start), seq, texts),
        );
      },
    ),
  );
  const lines = Buffer.from('{"a":1}\n{"b":2}');
  const { inner, outer } = pads(Buffer.alloc(32, 1), 200);
  const prev = Buffer.alloc(32);
  const out = Buffer.alloc(300);
  const call = (...args: unknown[]): unknown =>
    (chainLines as (...a: unknown[]) => unknown)(...args);
  assert.throws(() => call(lines, inner, outer, prev, 0), {
    name: 'TypeError',
    message: 'chainLines takes 6 arguments',
  });
  assert.throws(() => call('x', inner, outer, prev, 0, out), {
    name: 'TypeError',
    message: /must be a Uint8Array/,
  });
  assert.throws(() => call(lines, inner, outer, prev, '0', out), {
    name: 'TypeError',
    message: 'seq must be a number',
  });
  for (const seq of [-1, 0.5, Number.NaN, 2 ** 53]) {
    assert.throws(() => call(lines, inner, outer, prev, seq, out), {
      name: 'RangeError',
      message: /seq/,
    });
  }
  assert.throws(() => call(lines, inner, Buffer.alloc(63), prev, 0, out), {
    name: 'RangeError',
    message: /outer/,
  });
  assert.throws(() => call(lines, inner, outer, Buffer.alloc(31), 0, out), {
    name: 'RangeError',
    message: /prev must be 32 bytes/,
  });
  // Too small a buffer throws before anything is written or the previous MAC changes.
  assert.throws(() => call(lines, Buffer.alloc(100), outer, prev, 0, out), {
    name: 'RangeError',
    message: /inner is too small/,
  });
  assert.throws(() => call(lines, inner, outer, prev, 0, Buffer.alloc(100)), {
    name: 'RangeError',
    message: /out is too small/,
  });
  assert.deepEqual(prev, Buffer.alloc(32));
  // An addon without it (built before it was added) is refused by its self-test.
  assert.equal(chainSelfTest({ seal: () => undefined, open: () => false }), false);
});

nativeTest('bad arguments throw TypeError or RangeError with a message, never crash', () => {
  const native = addon();
  const key = randomBytes(32);
  const pt = randomBytes(10);
  const out = Buffer.alloc(54);
  const notBytes: unknown[] = [
    undefined,
    null,
    'text',
    42,
    {},
    [1, 2],
    new ArrayBuffer(32),
    new Uint16Array(16),
    new DataView(new ArrayBuffer(32)),
  ];
  const seal = native.seal.bind(native) as (...args: unknown[]) => unknown;
  const open = native.open.bind(native) as (...args: unknown[]) => unknown;
  const sealArgs: unknown[] = [0, key, pt, Buffer.alloc(0), out];
  for (let i = 1; i < sealArgs.length; i++) {
    for (const bad of notBytes) {
      const args = [...sealArgs];
      args[i] = bad;
      assert.throws(() => seal(...args), { name: 'TypeError', message: /must be a Uint8Array/ });
    }
  }
  for (const algorithm of [2, -1, 0.5, '0', null, undefined] as unknown[]) {
    assert.throws(() => seal(algorithm, key, pt, Buffer.alloc(0), out), {
      name: 'TypeError',
      message: 'algorithm must be 0 (AES256) or 1 (ChaCha20)',
    });
  }
  assert.throws(() => seal(), { name: 'TypeError', message: 'seal takes 5 arguments' });
  assert.throws(() => open(0, key), { name: 'TypeError', message: 'open takes 7 arguments' });
  const rangeCases: [unknown[], RegExp][] = [
    [[0, key.subarray(1), pt, Buffer.alloc(0), out], /master key must be 32 bytes/],
    [[0, key, pt, Buffer.alloc(0), Buffer.alloc(53)], /plaintext length \+ 44/],
    [[0, key, pt, Buffer.alloc(0), Buffer.alloc(55)], /plaintext length \+ 44/],
    [[0, key, out.subarray(0, 10), Buffer.alloc(0), out], /must not overlap/],
  ];
  for (const [args, message] of rangeCases) {
    assert.throws(() => seal(...args), { name: 'RangeError', message });
  }
  const iv = randomBytes(16);
  const nonce = randomBytes(12);
  const sealed = randomBytes(26);
  const openRange: [unknown[], RegExp][] = [
    [[0, key, iv.subarray(1), nonce, sealed, Buffer.alloc(0), pt], /iv must be 16 bytes/],
    [[0, key, iv, randomBytes(16), sealed, Buffer.alloc(0), pt], /nonce must be 12 bytes/],
    [[0, key, iv, nonce, randomBytes(15), Buffer.alloc(0), Buffer.alloc(0)], /at least 16/],
    [[0, key, iv, nonce, sealed, Buffer.alloc(0), Buffer.alloc(9)], /sealed length - 16/],
    [[0, key, iv, nonce, sealed, pt, pt], /must not overlap/],
  ];
  for (const [args, message] of openRange) {
    assert.throws(() => open(...args), { name: 'RangeError', message });
  }
  for (let i = 1; i < 7; i++) {
    const args: unknown[] = [0, key, iv, nonce, sealed, Buffer.alloc(0), pt];
    args[i] = 'not bytes';
    assert.throws(() => open(...args), { name: 'TypeError' });
  }
  // Still working after all of that; unaligned views are fine.
  const backing = new Uint8Array(33);
  backing.set(key, 1);
  const view = backing.subarray(1);
  const raw = Buffer.alloc(pt.length + 44);
  iv.copy(raw, pt.length + 16);
  nonce.copy(raw, pt.length + 32);
  native.seal(0, view, pt, Buffer.alloc(0), raw);
  assert.deepEqual(raw, nodeSeal('AES256', key, iv, nonce, pt, Buffer.alloc(0)));
  assert.deepEqual(nativeOpen('AES256', key, raw, Buffer.alloc(0)), pt);
});

nativeTest('a worker thread has its own contexts and agrees with the main thread', async () => {
  const moduleUrl = new URL('./native-crypto.js', import.meta.url).href;
  const key = randomBytes(32);
  const source = `
    import { parentPort, workerData } from 'node:worker_threads';
    const { dataKeyCrypto } = await import(workerData.moduleUrl);
    const key = Buffer.from(workerData.key);
    const results = [];
    for (let i = 0; i < 200; i++) {
      const pt = Buffer.alloc(i, i);
      const out = Buffer.alloc(i + 44);
      out.fill(7, i + 16);
      dataKeyCrypto.native.seal(i % 2, key, pt, Buffer.alloc(0), out);
      results.push(out);
    }
    parentPort.postMessage(results);
  `;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), {
    workerData: { moduleUrl, key },
  });
  // Meanwhile the main thread uses its own contexts.
  const mine = KEY_TYPES.map((type) => new SecretKey(type, key).generateDataKey(64));
  const results = await new Promise<Uint8Array[]>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.equal(results.length, 200);
  results.forEach((out, i) => {
    const type = KEY_TYPES[i % 2]!;
    assert.deepEqual(new SecretKey(type, key).open(Buffer.from(out)), Buffer.alloc(i, i));
  });
  for (const [i, dek] of mine.entries()) {
    assert.deepEqual(new SecretKey(KEY_TYPES[i]!, key).open(dek.ciphertext), dek.plaintext);
  }
});

nativeTest('the self-test refuses an addon whose bytes differ from node:crypto', () => {
  const real = addon();
  assert.equal(selfTest(real), true);
  const wrongSeal: NativeCrypto = {
    seal: (algorithm, key, plaintext, aad, out) => {
      real.seal(algorithm, key, plaintext, aad, out);
      out[0] = out[0]! ^ 1;
    },
    open: (...args) => real.open(...args),
  };
  assert.equal(selfTest(wrongSeal), false);
  const acceptsAnything: NativeCrypto = {
    seal: (...args) => real.seal(...args),
    open: (...args) => {
      real.open(...args);
      return true;
    },
  };
  assert.equal(selfTest(acceptsAnything), false);
});

test('KEYHOLD_NATIVE_CRYPTO=0 makes a process use node:crypto, and its output opens natively', () => {
  const moduleUrl = new URL('./index.js', import.meta.url).href;
  const key = randomBytes(32);
  const script = `
    const { SecretKey, dataKeyCryptoInfo } = await import(${JSON.stringify(moduleUrl)});
    const key = new SecretKey('AES256', Buffer.from(process.argv[1], 'hex'));
    const dek = key.generateDataKey(32, Buffer.from('ad'));
    console.log(JSON.stringify({ info: dataKeyCryptoInfo, plaintext: dek.plaintext.toString('hex'), ciphertext: dek.ciphertext.toString('hex') }));
  `;
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', script, key.toString('hex')],
    { env: { ...process.env, KEYHOLD_NATIVE_CRYPTO: '0' }, encoding: 'utf8' },
  );
  const child = JSON.parse(out) as {
    info: unknown;
    plaintext: string;
    ciphertext: string;
  };
  assert.deepEqual(child.info, { backend: 'node:crypto', reason: 'KEYHOLD_NATIVE_CRYPTO=0' });
  // Opened here with whatever this process loaded (the addon, unless turned off here too).
  const opened = new SecretKey('AES256', key).open(
    Buffer.from(child.ciphertext, 'hex'),
    Buffer.from('ad'),
  );
  assert.equal(opened.toString('hex'), child.plaintext);
});
