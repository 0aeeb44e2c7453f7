// Parsers for the two history formats of Porcupine's test data: Jepsen etcd register logs and
// key-value logs of EDN-like maps. An event's line number is its time.

import type { Operation } from './checker.ts';
import type { KvInput, KvOutput } from './kv-model.ts';
import type { RegisterInput, RegisterOutput } from './register-model.ts';

const JEPSEN_LINE =
  /^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(.*)$/;
const CAS_VALUE = /^\[(-?\d+)\s+(-?\d+)\]$/;

/**
 * A Jepsen etcd register log (`INFO  jepsen.util - <process>\t:<type>\t:<f>\t<value>` lines).
 * `:ok` completes a process's open operation with its value; `:fail :cas` is an observation (the
 * comparison failed); `:fail :read` (a timeout) leaves the output unknown; any other `:fail` means
 * the operation did not happen and drops it; `:info` says nothing, so the operation stays open and
 * ends unknown, returning at `Infinity`. Lines of any other shape are ignored.
 */
export function parseJepsenLog(text: string): Operation<RegisterInput, RegisterOutput>[] {
  const done: Operation<RegisterInput, RegisterOutput>[] = [];
  const open = new Map<number, { input: RegisterInput; call: number }>();
  const close = (client: number, output: RegisterOutput, time: number): void => {
    const pending = open.get(client);
    if (pending === undefined)
      throw new SyntaxError(`line ${time + 1}: process ${client} has no operation open`);
    open.delete(client);
    done.push({ client, input: pending.input, output, call: pending.call, return: time });
  };
  for (const [time, line] of text.split('\n').entries()) {
    const m = JEPSEN_LINE.exec(line.trimEnd());
    if (m === null) continue;
    const [, processText, type, f, value] = m as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    const client = Number(processText);
    if (type === 'invoke') {
      // A process that invokes again gave up on its previous operation without saying so.
      if (open.has(client)) close(client, { kind: 'unknown' }, Infinity);
      open.set(client, { input: registerInput(f, value, time), call: time });
    } else if (type === 'ok') {
      close(client, registerOutput(f, value, time), time);
    } else if (type === 'fail') {
      if (f === 'cas') close(client, { kind: 'cas', swapped: false }, time);
      else if (f === 'read') close(client, { kind: 'unknown' }, time);
      else open.delete(client);
    }
  }
  for (const [client, pending] of open) {
    done.push({ client, ...pending, output: { kind: 'unknown' }, return: Infinity });
  }
  return done;
}

function registerInput(f: string, value: string, time: number): RegisterInput {
  if (f === 'read') return { op: 'read' };
  if (f === 'write') return { op: 'write', value: integer(value, time) };
  const cas = CAS_VALUE.exec(value);
  if (cas === null) throw new SyntaxError(`line ${time + 1}: bad cas value ${value}`);
  return { op: 'cas', from: Number(cas[1]), to: Number(cas[2]) };
}

function registerOutput(f: string, value: string, time: number): RegisterOutput {
  if (f === 'read') return { kind: 'read', value: value === 'nil' ? null : integer(value, time) };
  if (f === 'write') return { kind: 'written' };
  return { kind: 'cas', swapped: true };
}

function integer(text: string, time: number): number {
  if (!/^-?\d+$/.test(text)) throw new SyntaxError(`line ${time + 1}: not an integer: ${text}`);
  return Number(text);
}

const KV_LINE =
  /^\{:process (\d+), :type :(invoke|ok), :f :(get|put|append), :key "([^"]*)", :value (nil|"[^"]*")\}$/;

/**
 * A key-value log: one `{:process N, :type :invoke|:ok, :f :get|:put|:append, :key "k", :value
 * "v"|nil}` map per line. `:ok` completes the process's open operation (a get's value is what it
 * read); operations never completed end unknown at `Infinity`. Blank lines are ignored.
 */
export function parseKvLog(text: string): Operation<KvInput, KvOutput>[] {
  const done: Operation<KvInput, KvOutput>[] = [];
  const open = new Map<number, { input: KvInput; call: number }>();
  for (const [time, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const m = KV_LINE.exec(line.trim());
    if (m === null) throw new SyntaxError(`line ${time + 1}: not a key-value event: ${line}`);
    const [, processText, type, f, key, valueText] = m as unknown as string[] as [
      string,
      string,
      'invoke' | 'ok',
      KvInput['op'],
      string,
      string,
    ];
    const client = Number(processText);
    const value = valueText === 'nil' ? '' : valueText.slice(1, -1);
    if (type === 'invoke') {
      const abandoned = open.get(client);
      if (abandoned)
        done.push({ client, ...abandoned, output: { kind: 'unknown' }, return: Infinity });
      open.set(client, { input: { op: f, key, value: f === 'get' ? '' : value }, call: time });
      continue;
    }
    const pending = open.get(client);
    if (pending === undefined)
      throw new SyntaxError(`line ${time + 1}: process ${client} has no operation open`);
    open.delete(client);
    const output: KvOutput = { kind: 'value', value: f === 'get' ? value : '' };
    done.push({ client, input: pending.input, output, call: pending.call, return: time });
  }
  for (const [client, pending] of open) {
    done.push({ client, ...pending, output: { kind: 'unknown' }, return: Infinity });
  }
  return done;
}
