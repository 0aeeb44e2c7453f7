import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { KeyholdError } from '../model/errors.ts';
import { AuditLog } from '../observe/audit.ts';
import type { AuditRecord } from '../observe/audit.ts';
import { createPipeline } from './pipeline.ts';
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
});
