// Reading a YAML config file with positions: every error and warning names `file:line:col`.
// Scalars are read as text (YAML's failsafe schema) and typed per field, as Go's yaml.v3 does
// for a typed struct, so `0123` stays `0123`; whole-value `${NAME}` is replaced from the env.

import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Node } from 'yaml';

/** A config file that cannot be used; the message starts with `file:line:col:`. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** One entry of a YAML mapping. */
export interface Entry {
  readonly key: string;
  readonly keyNode: Node;
  /** The value; null when absent or empty. */
  readonly value: Node | null;
}

const ENV_REFERENCE = /^\$\{\s*([^}]*?)\s*\}$/;

export class ConfigSource {
  readonly file: string;
  /** Problems that do not stop the file from loading, each `file:line:col: message`. */
  readonly warnings: string[] = [];
  readonly #lines: LineCounter;
  readonly #doc: Document;
  readonly #env: Readonly<Record<string, string | undefined>>;

  private constructor(
    file: string,
    doc: Document,
    lines: LineCounter,
    env: Readonly<Record<string, string | undefined>>,
  ) {
    this.file = file;
    this.#doc = doc;
    this.#lines = lines;
    this.#env = env;
  }

  /** Parses `text`; throws ConfigError at the first YAML syntax error. */
  static parse(
    file: string,
    text: string,
    env: Readonly<Record<string, string | undefined>>,
  ): ConfigSource {
    const lines = new LineCounter();
    const doc = parseDocument(text, { schema: 'failsafe', lineCounter: lines, prettyErrors: true });
    const [first] = doc.errors;
    if (first) {
      const pos = first.linePos?.[0];
      const message = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new ConfigError(`${file}:${pos?.line ?? 1}:${pos?.col ?? 1}: ${message}`);
    }
    return new ConfigSource(file, doc, lines, env);
  }

  /** The document's top node, or null for an empty file. */
  get root(): Node | null {
    return this.resolve(this.#doc.contents);
  }

  /** `file:line:col` of a node (line 1 col 1 without one). */
  where(node: Node | null): string {
    const offset = node?.range?.[0];
    if (offset === undefined) return `${this.file}:1:1`;
    const { line, col } = this.#lines.linePos(offset);
    return `${this.file}:${line}:${col}`;
  }

  /** Throws ConfigError at `node`. */
  fail(node: Node | null, message: string): never {
    throw new ConfigError(`${this.where(node)}: ${message}`);
  }

  /** Records a warning at `node`. */
  warn(node: Node | null, message: string): void {
    this.warnings.push(`${this.where(node)}: ${message}`);
  }

  /** Follows an alias to its anchor. */
  resolve(node: Node | null | undefined): Node | null {
    if (!node) return null;
    if (isAlias(node)) return (node.resolve(this.#doc) as Node | undefined) ?? null;
    return node;
  }

  /** True for an absent value, an empty scalar, `null` or `~`. */
  isNull(node: Node | null): boolean {
    if (!node) return true;
    if (!isScalar(node)) return false;
    if (node.type !== 'PLAIN') return false;
    const text = String(node.value);
    return text === '' || text === 'null' || text === 'Null' || text === 'NULL' || text === '~';
  }

  /** True for a list (a YAML sequence, after resolving an alias). */
  isList(node: Node | null): boolean {
    return isSeq(this.resolve(node));
  }

  /** The entries of a mapping (none for null); fails on anything else. */
  entries(node: Node | null, what: string): Entry[] {
    if (this.isNull(node)) return [];
    if (!isMap(node)) this.fail(node, `${what} must be a mapping`);
    return node.items.map((pair) => {
      const keyNode = this.resolve(pair.key as Node);
      if (!keyNode || !isScalar(keyNode)) this.fail(keyNode, `${what}: keys must be strings`);
      return {
        key: String(keyNode.value),
        keyNode,
        value: this.resolve(pair.value as Node | null),
      };
    });
  }

  /**
   * The entries of a mapping whose keys are all in `known`; other keys are warned about and
   * skipped (KES ignores unknown fields).
   */
  fields(node: Node | null, what: string, known: readonly string[]): Map<string, Entry> {
    const out = new Map<string, Entry>();
    for (const entry of this.entries(node, what)) {
      if (known.includes(entry.key)) out.set(entry.key, entry);
      else this.warn(entry.keyNode, `unknown field '${entry.key}' in ${what} (ignored)`);
    }
    return out;
  }

  /** The items of a sequence (none for null); fails on anything else. */
  items(node: Node | null, what: string): Node[] {
    if (this.isNull(node)) return [];
    if (!isSeq(node)) this.fail(node, `${what} must be a list`);
    return node.items.map((item) => this.resolve(item as Node) ?? (item as Node));
  }

  /**
   * The text of a scalar ('' for null). With `env`, a value that is exactly `${NAME}` is
   * replaced by the environment variable NAME, which must exist.
   */
  text(node: Node | null, what: string, env = true): string {
    if (this.isNull(node)) return '';
    if (!isScalar(node)) this.fail(node, `${what} must be a single value`);
    const raw = String(node.value);
    if (!env) return raw;
    const m = ENV_REFERENCE.exec(raw.trim());
    if (!m) return raw;
    const value = this.#env[m[1]!];
    if (value === undefined) {
      this.fail(node, `referenced environment variable '${m[1]!}' not found`);
    }
    return value;
  }

  /** A boolean scalar: true/false (and yes/no/on/off, as yaml.v3 reads into a bool). */
  bool(node: Node | null, what: string): boolean | undefined {
    const text = this.text(node, what);
    if (text === '') return undefined;
    const lower = text.toLowerCase();
    if (['true', 'yes', 'on', 'y'].includes(lower)) return true;
    if (['false', 'no', 'off', 'n'].includes(lower)) return false;
    this.fail(node, `invalid ${what} '${text}': expected true or false`);
  }
}
