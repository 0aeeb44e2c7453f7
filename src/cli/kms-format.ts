// Rendering of KMS API results for the client commands: aligned tables and `Label: value` blocks
// for people, snake_case JSON (kms-go's JSON names, bytes as base64) for --json.

import type {
  EnclaveStatus,
  IdentityStatus,
  KeyStatus,
  Policy,
  PolicyStatus,
} from '../sdk/index.ts';
import { formatPolicyDocument } from '../sdk/index.ts';
import { formatTable, formatTime, print } from './output.ts';
import { io } from './io.ts';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** JSON output: indented, one trailing newline. Values must already be JSON-safe. */
export function printJsonValue(value: Json): void {
  io().stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** `Label: value` lines with the values aligned. */
export function formatFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(...fields.map(([label]) => label.length)) + 2;
  return fields
    .map(([label, value]) => `${(label + ':').padEnd(width)}${value}`.trimEnd())
    .join('\n');
}

/**
 * Prints the result of a stat-like command: for people one block per item; for --json the
 * object of a single item, or an array when several were asked for.
 */
export function printStat<T>(
  json: boolean,
  items: readonly T[],
  toJson: (item: T) => Json,
  toFields: (item: T) => (readonly [string, string])[],
  several: boolean,
): void {
  if (json) printJsonValue(several ? items.map(toJson) : toJson(items[0]!));
  else print(items.map((item) => formatFields(toFields(item))).join('\n\n'));
}

/** Prints a listing: an aligned table for people (nothing when empty), an array for --json. */
export function printList<T>(
  json: boolean,
  items: readonly T[],
  toJson: (item: T) => Json,
  header: readonly string[],
  toRow: (item: T) => string[],
): void {
  if (json) printJsonValue(items.map(toJson));
  else if (items.length > 0) print(formatTable([header, ...items.map(toRow)]));
}

/** ISO time (seconds precision) or null. */
export function timeJson(date: Date | undefined): string | null {
  return date ? formatTime(date) : null;
}

export function enclaveJson(e: EnclaveStatus): Json {
  return { name: e.name, created_at: timeJson(e.createdAt), created_by: e.createdBy };
}

export function enclaveFields(e: EnclaveStatus): [string, string][] {
  return [
    ['Name', e.name],
    ['Created', formatTime(e.createdAt)],
    ['Created by', e.createdBy],
  ];
}

export function keyJson(k: KeyStatus): Json {
  return {
    name: k.name,
    version: k.version,
    type: k.type,
    created_at: timeJson(k.createdAt),
    created_by: k.createdBy,
  };
}

export function keyFields(k: KeyStatus): [string, string][] {
  return [
    ['Name', k.name],
    ['Version', String(k.version)],
    ['Type', k.type],
    ['Created', formatTime(k.createdAt)],
    ['Created by', k.createdBy],
  ];
}

export function policyStatusJson(p: PolicyStatus): Json {
  return { name: p.name, created_at: timeJson(p.createdAt), created_by: p.createdBy };
}

export function policyJson(p: Policy): Json {
  const { allow, deny } = formatPolicyDocument(p);
  return { name: p.name, allow, deny, created_at: timeJson(p.createdAt), created_by: p.createdBy };
}

export function policyStatusFields(p: PolicyStatus): [string, string][] {
  return [
    ['Name', p.name],
    ['Created', formatTime(p.createdAt)],
    ['Created by', p.createdBy],
  ];
}

function ruleLines(rules: Record<string, string[]>): string {
  const commands = Object.keys(rules).sort();
  if (commands.length === 0) return '-';
  const width = Math.max(...commands.map((c) => c.length)) + 2;
  return commands.map((c) => `\n  ${c.padEnd(width)}${rules[c]!.join(', ')}`).join('');
}

export function policyFields(p: Policy): [string, string][] {
  return [...policyStatusFields(p), ['Allow', ruleLines(p.allow)], ['Deny', ruleLines(p.deny)]];
}

export function identityJson(i: IdentityStatus): Json {
  return {
    identity: i.identity,
    privilege: i.privilege,
    policy: i.policy,
    created_at: timeJson(i.createdAt),
    created_by: i.createdBy,
    is_service_account: i.isServiceAccount,
    service_accounts: i.serviceAccounts,
    tags: i.tags,
  };
}

export function tagsText(tags: Record<string, string>): string {
  return Object.keys(tags)
    .sort()
    .map((k) => `${k}=${tags[k]!}`)
    .join(', ');
}

export function identityFields(i: IdentityStatus): [string, string][] {
  const fields: [string, string][] = [
    ['Identity', i.identity],
    ['Privilege', i.privilege],
  ];
  if (i.privilege === 'User') fields.push(['Policy', i.policy === '' ? '-' : i.policy]);
  fields.push(
    ['Created', formatTime(i.createdAt)],
    ['Created by', i.createdBy],
    ['Service account', i.isServiceAccount ? 'yes' : 'no'],
  );
  if (i.serviceAccounts.length > 0) fields.push(['Service accounts', i.serviceAccounts.join(', ')]);
  if (Object.keys(i.tags).length > 0) fields.push(['Tags', tagsText(i.tags)]);
  return fields;
}
