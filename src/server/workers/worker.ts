// A worker of a pool: serves both faces from a replica of the primary's state, forwards writes
// (and backups, restores, metrics) to the primary, and relays log-stream events through it.

import { AggregatorRegistry } from 'prom-client';
import { EventLog } from '../../observe/event-log.ts';
import { AuditLog } from '../../observe/audit.ts';
import type { AuditSink } from '../../observe/audit-file.ts';
import { KeyholdServer } from '../keyhold-server.ts';
import type { ServerOptions } from '../server-options.ts';
import { resolveRoot } from '../root-identity.ts';
import type { ToPrimary, ToWorker } from './messages.ts';
import { collectGarbage } from './collect-garbage.ts';
import { SnapshotReceiver } from './snapshot-stream.ts';
import { WorkerOwner } from './worker-owner.ts';
import { Sessions } from '../../console/session-table.ts';

/** Runs this process as a worker until the primary says `shutdown` (or goes away). */
export function runWorker(options: ServerOptions): Promise<void> {
  const send = (message: ToPrimary): void => {
    if (process.connected) process.send?.(message);
  };
  return new Promise((resolve, reject) => {
    let server: KeyholdServer | null = null;
    let owner: WorkerOwner | null = null;
    let handshaking = false;
    const log = options.log ?? new EventLog();
    // The primary alone writes the audit file, so that all workers' lines form one chain.
    const audit = new AuditLog(options.auditFile ? primarySink() : null);
    log.stream.onSubscriberChange((delta) => send({ type: 'subscribe', stream: 'log', delta }));
    audit.stream.onSubscriberChange((delta) => send({ type: 'subscribe', stream: 'audit', delta }));

    const stop = (): void => {
      owner?.abandon();
      void (server ? server.close() : Promise.resolve()).then(() => {
        // The IPC channel would keep this process alive; the primary is done with it.
        if (process.connected) process.disconnect();
        resolve();
      }, reject);
    };
    // A worker that cannot start tells the primary, which stops the node with that one message.
    const fail = (error: unknown): void => {
      const message = error instanceof Error ? error.message : String(error);
      if (!process.connected) process.exit(1);
      process.send?.({ type: 'failed', message } satisfies ToPrimary, () => process.exit(1));
    };
    process.on('disconnect', stop);
    // The primary coordinates shutdown (a terminal's Ctrl-C reaches every process of the group).
    process.on('SIGINT', () => undefined);
    process.on('SIGTERM', () => undefined);
    const snapshot = new SnapshotReceiver();
    process.on('message', (message: ToWorker) => {
      if (owner?.handle(message)) return;
      switch (message.type) {
        case 'snapshot':
          snapshot.add(message.total, message.bytes);
          return;
        case 'reset':
          owner?.reset(snapshot.take(), message.cluster);
          // Once this handler returned: its frame still holds the snapshot.
          setImmediate(collectGarbage);
          return;
        case 'init':
          try {
            owner = new WorkerOwner(snapshot.take(), send, message.cluster);
            if (!message.writable) owner.handle({ type: 'writes-refused' });
            setImmediate(collectGarbage);
            // What this worker keeps is copied out of the message: a Buffer that arrives over
            // IPC is a view of the whole message and would keep it alive.
            server = new KeyholdServer({
              owner,
              root: resolveRoot(options.hsmKey, options.adminIdentity),
              certificate: {
                cert: Buffer.from(message.certificate.cert),
                key: Buffer.from(message.certificate.key),
                files: message.certificate.files,
                created: false,
              },
              options,
              log,
              audit,
              ticketKeys: Buffer.from(message.ticketKeys),
              sessions: new Sessions((op) => owner!.consoleSession(op)),
              onHandshakesBusy: (busy) => {
                handshaking = busy;
                send({ type: 'handshaking', busy });
              },
            });
          } catch (error) {
            fail(error);
            return;
          }
          AggregatorRegistry.setRegistries([server.metrics.registry]);
          // Constructing one installs prom-client's worker-side listener that answers the
          // primary's aggregation requests (setRegistries alone does not).
          new AggregatorRegistry();
          server
            .listen(options.address, options.publicHost)
            .then(() => send({ type: 'listening', address: server!.address }), fail);
          return;
        case 'subscribers':
          // Forward this process's events to the primary while anyone, anywhere, subscribes.
          audit.stream.setForward(
            message.audit > 0 ? (record) => send({ type: 'audit', record }) : null,
          );
          log.stream.setForward(message.log > 0 ? (event) => send({ type: 'log', event }) : null);
          return;
        case 'audit':
          audit.stream.deliver(message.record);
          return;
        case 'log':
          log.stream.deliver(message.event);
          return;
        case 'handshaking':
          server?.handshakes.setRemoteBusy(message.workers - (handshaking ? 1 : 0) > 0);
          return;
        case 'gather':
          send({ type: 'gathered', gid: message.gid, value: server?.kes.metrics.counts() ?? null });
          return;
        case 'shutdown':
          stop();
          return;
        default:
          return;
      }
    });
    send({ type: 'ready' });
  });
}

/**
 * Audit lines go to the primary, which chains and writes them (audit-file.ts); `end` waits until
 * the last batch has left this process, so that none is lost when the worker then disconnects.
 */
function primarySink(): AuditSink {
  let inFlight = 0;
  let ended: (() => void) | null = null;
  const sent = (): void => {
    if (--inFlight === 0) ended?.();
  };
  return {
    write(lines) {
      if (!process.connected || !process.send) return;
      inFlight++;
      // One Buffer per batch (V8-serializes as a copy of its bytes, where a string had to be
      // encoded again in the primary); copied first, since a send may be queued unserialized
      // and the AuditLog reuses its buffer.
      const message = { type: 'audit-lines', lines: Buffer.from(lines) } satisfies ToPrimary;
      process.send(message, undefined, {}, sent);
    },
    end(done) {
      if (inFlight === 0) done();
      else ended = done;
    },
  };
}
