// Keys of the chosen enclave: server-side paging and incremental (prefix) search, versions,
// create, import (views/key-import.js), rotate (add a version), delete with the name typed to
// confirm.

import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { ErrorBox, Ident, Notice, TypedDelete, html, useDebounced, when } from '../ui.js';
import { KeyImport } from './key-import.js';

const PAGE = 50;

export function Keys({ enclave }) {
  const [search, setSearch] = useState('');
  const prefix = useDebounced(search.trim(), 200);
  const [items, setItems] = useState([]);
  const [next, setNext] = useState('');
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState('');
  const [open, setOpen] = useState(null);
  const [name, setName] = useState('');
  const [type, setType] = useState('AES256');
  const [importing, setImporting] = useState(false);

  const load = async (more = false) => {
    try {
      const d = await get('keys', { enclave, prefix, continue: more ? next : '', limit: PAGE });
      setItems(more ? [...items, ...d.items] : d.items);
      setNext(d.continueAt);
      setError(null);
    } catch (err) {
      setError(err);
      if (!more) setItems([]);
    }
  };
  useEffect(() => void load(), [enclave, prefix]);

  const act = async (fn, text) => {
    try {
      await fn();
      setError(null);
      await load();
      setNotice(text);
    } catch (err) {
      setError(err);
    }
  };
  const create = (e) => {
    e.preventDefault();
    void act(() => post('keys/create', { enclave, name, type }), `Key ${name} created.`).then(() =>
      setName(''),
    );
  };

  return html`<section>
    <h1>Keys <span class="muted">in ${enclave}</span></h1>
    <form class="inline" onSubmit=${create}>
      <label
        >New key
        <input name="key-name" value=${name} onInput=${(e) => setName(e.target.value)} required
      /></label>
      <label
        >Type
        <select value=${type} onChange=${(e) => setType(e.target.value)}>
          <option value="AES256">AES256</option>
          <option value="ChaCha20">ChaCha20</option>
        </select></label
      >
      <button type="submit" class="primary">Create key</button>
      <button
        type="button"
        onClick=${() => {
          setNotice('');
          setImporting(!importing);
        }}
        aria-expanded=${importing}
      >
        Import a key…
      </button>
    </form>
    ${
      importing &&
      html`<${KeyImport}
        enclave=${enclave}
        onClose=${() => setImporting(false)}
        onImported=${(imported) => {
          setImporting(false);
          setError(null);
          setNotice(`Key ${imported} imported.`);
          void load();
        }}
      />`
    }
    <label class="search"
      >Search by prefix
      <input
        type="search"
        name="key-search"
        value=${search}
        onInput=${(e) => setSearch(e.target.value)}
    /></label>
    <${ErrorBox} error=${error} /><${Notice} text=${notice} />
    <table>
      <thead>
        <tr>
          <th>Name</th>
          <th>Type</th>
          <th>Versions</th>
          <th>Latest created</th>
          <th>By</th>
          <th>Imported</th>
          <th><span class="sr-only">Actions</span></th>
        </tr>
      </thead>
      <tbody>
        ${items.map(
          (k) =>
            html`<tr key=${k.name} data-key=${k.name}>
                <td>
                  <button
                    class="link"
                    aria-expanded=${open === k.name}
                    onClick=${() => setOpen(open === k.name ? null : k.name)}
                  >
                    ${k.name}
                  </button>
                </td>
                <td>${k.type}</td>
                <td data-testid="versions">${k.versions} (v${k.latest})</td>
                <td>${when(k.createdAt)}</td>
                <td><${Ident} value=${k.createdBy} /></td>
                <td>${k.imported ? 'imported' : ''}</td>
                <td class="actions">
                  <button
                    onClick=${() => act(() => post('keys/rotate', { enclave, name: k.name }), `Key ${k.name} rotated.`)}
                    aria-label=${`Rotate ${k.name}`}
                  >
                    Rotate
                  </button>
                  <${TypedDelete}
                    name=${k.name}
                    what="key"
                    onDelete=${() => act(() => post('keys/delete', { enclave, name: k.name, confirm: k.name }), `Key ${k.name} deleted.`)}
                  />
                </td>
              </tr>
              ${
                open === k.name &&
                html`<tr class="detail">
                  <td colspan="7"><${Versions} enclave=${enclave} name=${k.name} /></td>
                </tr>`
              }`,
        )}
      </tbody>
    </table>
    ${items.length === 0 && !error && html`<p class="muted">No keys${prefix ? ` starting with ${prefix}` : ''}.</p>`}
    ${next && html`<button onClick=${() => load(true)}>Load more</button>`}
  </section>`;
}

function Versions({ enclave, name }) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => void get('key', { enclave, name }).then(setData, setError), [enclave, name]);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<p>Loading…</p>`;
  return html`<table class="versions">
    <caption>
      Versions of ${name}
    </caption>
    <thead>
      <tr>
        <th>Version</th>
        <th>Type</th>
        <th>Created</th>
        <th>By</th>
        <th>Imported</th>
        <th>HMAC</th>
      </tr>
    </thead>
    <tbody>
      ${data.versions.map(
        (v) =>
          html`<tr>
            <td>v${v.version}</td>
            <td>${v.type}</td>
            <td>${when(v.createdAt)}</td>
            <td><${Ident} value=${v.createdBy} /></td>
            <td>${v.imported ? 'yes' : 'no'}</td>
            <td>${v.hmac ? 'yes' : 'no'}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}
