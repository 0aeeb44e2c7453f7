import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { KeyholdError } from '../model/errors.ts';
import { AuditLog } from '../observe/audit.ts';
import type { AuditRecord } from '../observe/audit.ts';
import { BodyBudget, createPipeline } from './pipeline.ts';
import { RouteTable } from './route.ts';

describe('pipeline', () => {
  it('settled() resolves only once every request it took has its audit record', async () => {
    // The handler hands the test a function that answers the request.
    let taken!: (answer: () => void) => void;
    const answerTaken = new Promise<() => void>((resolve) => (taken = resolve));
    const routes = new RouteTable().add({
      method: 'GET',
      path: '/slow',
      prefix: false,
      maxBody: 0,
      timeout: 15_000,
      face: 'kms',
      handle: ({ res }) =>
        new Promise<void>((resolve) => {
          taken(() => {
            res.writeHead(200, { 'Content-Length': 0 });
            res.end();
            resolve();
          });
        }),
    });
    const records: AuditRecord[] = [];
    const audit = new AuditLog();
    audit.subscribe((r) => records.push(r));
    const pipeline = createPipeline({
      routes,
      identify: () => '',
      rootIdentity: () => '',
      audit,
      writeError: (res, _face, error: KeyholdError) => {
        res.writeHead(error.wire('kms').status, { 'Content-Length': 0 });
        res.end();
      },
      onFault: () => undefined,
    });
    const server = createServer((req, res) => pipeline(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await pipeline.settled(); // nothing taken: at once
      const { port } = server.address() as AddressInfo;
      const status = new Promise<number>((resolve, reject) => {
        request({ port, host: '127.0.0.1', path: '/slow' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
          .on('error', reject)
          .end();
      });
      const answer = await answerTaken;
      let settled = false;
      const waiting = pipeline.settled().then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(settled, false, 'a request is still open');
      answer();
      assert.equal(await status, 200);
      await waiting;
      assert.deepEqual(
        records.map((r) => [r.path, r.status]),
        [['/slow', 200]],
      );
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('holds request bodies within the budget: 503 with Retry-After beyond it, given back on close', async () => {
    // A handler that answers only when the test says so, so that bodies stay held.
    const held: (() => void)[] = [];
    const routes = new RouteTable().add({
      method: 'POST',
      path: '/hold',
      prefix: false,
      maxBody: 1000,
      timeout: 15_000,
      face: 'kms',
      handle: ({ res, body }) => {
        held.push(() => {
          res.writeHead(200, { 'Content-Length': body.length });
          res.end(body);
        });
      },
    });
    const budget = new BodyBudget(100);
    const pipeline = createPipeline({
      routes,
      identify: () => '',
      rootIdentity: () => '',
      audit: new AuditLog(),
      writeError: (res, _face, error: KeyholdError) => {
        res.writeHead(error.wire('kms').status, { 'Content-Length': 0 });
        res.end();
      },
      onFault: () => undefined,
      bodyBudget: budget,
    });
    const server = createServer((req, res) => pipeline(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    type Answer = { status: number; headers: IncomingHttpHeaders; body: string };
    /** POSTs `pieces` (with Content-Length unless `chunked`), each written on its own. */
    const post = (pieces: string[], chunked = false): Promise<Answer> =>
      new Promise((resolve, reject) => {
        const length = pieces.reduce((n, p) => n + p.length, 0);
        const req = request(
          {
            port,
            host: '127.0.0.1',
            method: 'POST',
            path: '/hold',
            agent: false,
            headers: chunked ? {} : { 'Content-Length': length },
          },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body }),
            );
          },
        );
        req.on('error', reject);
        for (const piece of pieces) req.write(piece);
        req.end();
      });
    const until = async (check: () => boolean): Promise<void> => {
      for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(check());
    };
    try {
      const first = post(['a'.repeat(60)]);
      await until(() => held.length === 1);
      assert.equal(budget.held, 60);
      // A second declared body would take the budget over its limit: refused before it is read.
      const second = await post(['b'.repeat(60)]);
      assert.equal(second.status, 503);
      assert.equal(second.headers['retry-after'], '1');
      assert.equal(budget.held, 60);
      // A chunked body reserves as it arrives, and is refused once it would go over.
      const chunked = await post(['c'.repeat(30), 'c'.repeat(30)], true);
      assert.equal(chunked.status, 503);
      assert.equal(chunked.headers['retry-after'], '1');
      assert.equal(chunked.headers.connection, 'close');
      held.shift()!();
      assert.deepEqual(await first, { ...(await first), status: 200, body: 'a'.repeat(60) });
      await until(() => budget.held === 0);
      // Given back when the responses closed: the same body now fits.
      const third = post(['d'.repeat(60)]);
      await until(() => held.length === 1);
      held.shift()!();
      assert.equal((await third).status, 200);
      await until(() => budget.held === 0);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
