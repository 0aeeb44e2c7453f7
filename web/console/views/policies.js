// Policies of the chosen enclave: list, an editor whose rules the server validates as you type
// (the same check saving applies), and a preview of what an identity may do with a key.

import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { ErrorBox, Notice, TypedDelete, html, useDebounced, when } from '../ui.js';

/** Rules as lines: `COMMAND pattern pattern…` (one command per line). */
function toText(rules) {
  return Object.entries(rules)
    .map(([command, patterns]) => `${command} ${patterns.join(' ')}`)
    .join('\n');
}

function fromText(text) {
  const rules = {};
  for (const line of text.split('\n')) {
    const [command, ...patterns] = line.trim().split(/\s+/);
    if (!command) continue;
    rules[command] = [...(rules[command] ?? []), ...patterns];
  }
  return rules;
}

export function Policies({ enclave }) {
  const [items, setItems] = useState([]);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState('');
  const [name, setName] = useState('');
  const [allow, setAllow] = useState('KEY:GENERATE *\nKEY:DECRYPT *');
  const [deny, setDeny] = useState('');
  const [problems, setProblems] = useState([]);
  const draft = useDebounced(`${allow}\u0000${deny}`, 250);

  const load = () =>
    get('policies', { enclave, limit: 200 }).then(
      (d) => (setItems(d.items), setError(null)),
      (e) => (setError(e), setItems([])),
    );
  useEffect(() => void load(), [enclave]);
  useEffect(() => {
    const [a, d] = draft.split('\u0000');
    post('policies/validate', { allow: fromText(a), deny: fromText(d) }).then(
      (r) => setProblems(r.problems),
      () => setProblems([]),
    );
  }, [draft]);

  const edit = (p) => {
    setName(p.name);
    setAllow(toText(p.allow));
    setDeny(toText(p.deny));
  };
  const save = async (e) => {
    e.preventDefault();
    try {
      await post('policies/put', { enclave, name, allow: fromText(allow), deny: fromText(deny) });
      setNotice(`Policy ${name} saved.`);
      setError(null);
      await load();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (policy) => {
    try {
      await post('policies/delete', { enclave, name: policy });
      setNotice(`Policy ${policy} deleted.`);
      await load();
    } catch (err) {
      setError(err);
    }
  };

  return html`<section>
    <h1>Policies <span class="muted">in ${enclave}</span></h1>
    <${ErrorBox} error=${error} /><${Notice} text=${notice} />
    <div class="split">
      <div>
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Rules</th>
              <th>Created</th>
              <th><span class="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            ${items.map(
              (p) =>
                html`<tr key=${p.name}>
                  <td><button class="link" onClick=${() => edit(p)}>${p.name}</button></td>
                  <td>${Object.keys(p.allow).length} allow, ${Object.keys(p.deny).length} deny</td>
                  <td>${when(p.createdAt)}</td>
                  <td>
                    <${TypedDelete} name=${p.name} what="policy" onDelete=${() => remove(p.name)} />
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
        <${Preview} enclave=${enclave} />
      </div>
      <form class="editor" onSubmit=${save}>
        <h2>Edit policy</h2>
        <label
          >Name
          <input
            name="policy-name"
            value=${name}
            onInput=${(e) => setName(e.target.value)}
            required
        /></label>
        <label
          >Allow <span class="hint">one command per line: <code>KEY:GENERATE app-*</code></span>
          <textarea
            name="policy-allow"
            rows="6"
            value=${allow}
            onInput=${(e) => setAllow(e.target.value)}
            spellcheck="false"
          ></textarea>
        </label>
        <label
          >Deny
          <textarea
            name="policy-deny"
            rows="3"
            value=${deny}
            onInput=${(e) => setDeny(e.target.value)}
            spellcheck="false"
          ></textarea>
        </label>
        ${
          problems.length > 0
            ? html`<ul class="problems" aria-live="polite">
                ${problems.map((p) => html`<li>${p.list}: ${p.message}${p.pattern ? ` (${p.pattern})` : ''}</li>`)}
              </ul>`
            : html`<p class="ok" aria-live="polite">The rules are valid.</p>`
        }
        <button type="submit" class="primary" disabled=${problems.length > 0}>Save policy</button>
      </form>
    </div>
  </section>`;
}

function Preview({ enclave }) {
  const [identity, setIdentity] = useState('');
  const [key, setKey] = useState('');
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const run = async (e) => {
    e.preventDefault();
    try {
      setResult(await get('policies/preview', { enclave, identity, key }));
      setError(null);
    } catch (err) {
      setError(err);
      setResult(null);
    }
  };
  return html`<form class="preview" onSubmit=${run}>
    <h2>Preview access</h2>
    <label
      >Identity
      <input
        name="preview-identity"
        value=${identity}
        onInput=${(e) => setIdentity(e.target.value)}
        required
    /></label>
    <label
      >Key <input name="preview-key" value=${key} onInput=${(e) => setKey(e.target.value)} required
    /></label>
    <button type="submit">Preview</button>
    <${ErrorBox} error=${error} />
    ${
      result &&
      html`<ul class="preview-result">
        ${result.commands.map((c) => html`<li class=${c.allowed ? 'ok' : 'bad'}>${c.allowed ? '✓ allowed' : '✗ denied'} ${c.command}</li>`)}
      </ul>`
    }
  </form>`;
}
