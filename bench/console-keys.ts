// The web console's keys view with 100,000 keys, in Chromium against a real server: time to the
// first page, a page turn ("Load more"), and search-as-you-type (a prefix typed into the search
// box until the list shows only its keys, the page's 200 ms debounce included), each beside the
// same measurement on a 10-key enclave in the same run, and the console API's answer alone.
// The keys are put into a prepared data directory before the server starts: the state is built
// in memory by applying KEY:CREATE's own state commands and written as one snapshot by the
// engine's restore path (creating 100,000 keys one request at a time, each made durable, takes
// far longer on a busy machine and measures something else). Run it with
// `npm run build && node dist/bench/console-keys.js [--keys N] [--rounds N]`; it prints a table
// and one JSON line. Needs Chromium (apt-get install chromium).

import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import { HsmKey } from '../src/crypto/index.ts';
import { EventLog } from '../src/observe/event-log.ts';
import { LocalOwner } from '../src/server/local-owner.ts';
import { resolveRoot } from '../src/server/root-identity.ts';
import { decodeSnapshot, encodeSnapshot } from '../src/state/snapshot.ts';
import { launchChromium } from '../test/helpers/chromium.ts';
import { consoleCall, signIn } from '../test/helpers/console-client.ts';
import { TEST_HSM_KEY, startServer, tempDir } from '../test/helpers/server-process.ts';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '7' },
    workers: { type: 'string', default: '2' },
  },
});
const KEYS = Number(values.keys);
const ROUNDS = Number(values.rounds);

const keyName = (i: number): string => `key-${String(i).padStart(8, '0')}`;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const { dir, remove } = tempDir('keyhold-console-bench-');
const t0 = performance.now();
{
  const hsmKey = HsmKey.parse(TEST_HSM_KEY);
  const root = resolveRoot(hsmKey, undefined).identity;
  const owner = await LocalOwner.open({
    dir,
    hsmKey,
    defaultEnclave: 'default',
    rootIdentity: root,
    log: new EventLog(null),
  });
  const state = decodeSnapshot(await owner.engine.exportSnapshot());
  const at = Date.now();
  const create = (enclave: string, i: number): void =>
    state.apply({
      op: 'key.create',
      enclave,
      name: keyName(i),
      type: 'AES256',
      key: randomBytes(32),
      hmacKey: randomBytes(32),
      imported: false,
      addVersion: false,
      at,
      by: root,
    });
  for (const enclave of ['large', 'small'])
    state.apply({ op: 'enclave.create', enclave, at, by: root });
  for (let i = 0; i < KEYS; i++) create('large', i);
  for (let i = 0; i < 10; i++) create('small', i);
  await owner.engine.restoreSnapshot(encodeSnapshot(state));
  await owner.close();
}
const createSeconds = (performance.now() - t0) / 1000;
process.stderr.write(`console bench: ${KEYS} keys prepared in ${createSeconds.toFixed(1)} s\n`);
const server = await startServer({ dir, args: ['--workers', values.workers], timeout: 120_000 });
const browser = await launchChromium();
try {
  const endpoint = server.endpoint;
  // The console API alone: one page of 50, and a prefix page, over raw HTTPS.
  const { sid } = await signIn(endpoint, server.rootApiKey);
  /** Median milliseconds of each query's answer, the queries taken in turn (load hits all alike). */
  const apiTimes = async (queries: Record<string, string>): Promise<Record<string, number>> => {
    const samples: Record<string, number[]> = {};
    for (let i = 0; i < ROUNDS * 3; i++) {
      for (const [label, query] of Object.entries(queries)) {
        const t = performance.now();
        const res = await consoleCall(endpoint, { path: `keys?${query}`, sid });
        if (res.status !== 200) throw new Error(`console API answered ${res.status}`);
        (samples[label] ??= []).push(performance.now() - t);
      }
    }
    return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
  };

  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 },
  });
  context.setDefaultTimeout(60_000);
  const page = await context.newPage();
  await page.goto(`https://${endpoint}/console/`);
  await page.getByLabel('API key').fill(server.rootApiKey);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();

  const rows = page.locator('tr[data-key]');
  /** Milliseconds from an action until `ready` holds in the page. */
  const timed = async (act: () => Promise<void>, ready: () => Promise<void>): Promise<number> => {
    const t = performance.now();
    await act();
    await ready();
    return performance.now() - t;
  };

  /** One round in an enclave: first page, page turn (if any), search as you type. */
  const browserRound = async (enclave: string, prefix: string) => {
    await page.getByLabel('Enclave', { exact: true }).fill(enclave);
    await page.getByLabel('Enclave', { exact: true }).press('Enter');
    await page.getByRole('navigation').getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    // Time to first page: following the Keys link until the first key is in the table.
    const first = await timed(
      () => page.getByRole('navigation').getByRole('link', { name: 'Keys' }).click(),
      () => page.locator(`tr[data-key="${keyName(0)}"]`).waitFor(),
    );
    // A page turn, where there is a next page.
    let turn: number | null = null;
    if ((await page.getByRole('button', { name: 'Load more' }).count()) > 0) {
      turn = await timed(
        () => page.getByRole('button', { name: 'Load more' }).click(),
        () => page.locator(`tr[data-key="${keyName(50)}"]`).waitFor(),
      );
    }
    // Search as you type: the prefix typed key by key until the list is that prefix's keys.
    const box = page.getByLabel('Search by prefix');
    const search = await timed(
      () => box.pressSequentially(prefix),
      async () => {
        await page.locator(`tr[data-key="${keyName(0)}"]`).waitFor({ state: 'detached' });
        await rows.first().waitFor();
      },
    );
    await box.fill('');
    return { first, turn, search };
  };
  const summary = (rounds: { first: number; turn: number | null; search: number }[]) => {
    const turns = rounds.flatMap((r) => (r.turn === null ? [] : [r.turn]));
    return {
      firstPage: median(rounds.map((r) => r.first)),
      pageTurn: turns.length > 0 ? median(turns) : null,
      search: median(rounds.map((r) => r.search)),
    };
  };

  // key-00050…: 1,000 keys of 100,000; in the 10-key enclave, key-00000005.
  const largePrefix = keyName(Math.floor(KEYS / 2)).slice(0, 9);
  // The two enclaves in turn, so that the machine's load weighs on both alike.
  const largeRounds = [];
  const smallRounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    largeRounds.push(await browserRound('large', largePrefix));
    smallRounds.push(await browserRound('small', keyName(5)));
  }
  const large = summary(largeRounds);
  const small = summary(smallRounds);
  const api = await apiTimes({
    large: 'enclave=large&limit=50',
    largePrefix: `enclave=large&limit=50&prefix=${largePrefix}`,
    largeDeep: `enclave=large&limit=50&continue=${keyName(KEYS - 60)}`,
    small: 'enclave=small&limit=50',
  });
  const load = loadavg()[0]!.toFixed(1);
  const f = (ms: number | null) => (ms === null ? '—' : `${ms.toFixed(0)} ms`);
  const ratio = (a: number | null, b: number | null) =>
    a === null || b === null ? '—' : `${(a / b).toFixed(2)}×`;
  process.stdout.write(
    `\nconsole keys view, ${KEYS} keys vs 10 (median of ${ROUNDS}, load average ${load})\n` +
      `| measure | ${KEYS} keys | 10 keys | ratio |\n|---|---|---|---|\n` +
      `| first page (click Keys → first row) | ${f(large.firstPage)} | ${f(small.firstPage)} | ${ratio(large.firstPage, small.firstPage)} |\n` +
      `| page turn (Load more → row 51) | ${f(large.pageTurn)} | — | — |\n` +
      `| search as you type (prefix typed → list shows it; 200 ms debounce) | ${f(large.search)} | ${f(small.search)} | ${ratio(large.search, small.search)} |\n` +
      `| console API, one page of 50 | ${f(api.large!)} | ${f(api.small!)} | ${ratio(api.large!, api.small!)} |\n` +
      `| console API, prefix page | ${f(api.largePrefix!)} | — | — |\n` +
      `| console API, page at the end | ${f(api.largeDeep!)} | — | — |\n` +
      `data directory with ${KEYS} keys prepared in ${createSeconds.toFixed(1)} s\n`,
  );
  process.stdout.write(
    JSON.stringify({
      keys: KEYS,
      rounds: ROUNDS,
      load: Number(load),
      createSeconds,
      large,
      small,
      api,
    }) + '\n',
  );
  await context.close();
} finally {
  await browser.close();
  await server.stop();
  remove();
}
