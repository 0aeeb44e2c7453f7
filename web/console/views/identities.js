// Identities of the chosen enclave: privilege, policy, service accounts, tags; a new API key
// (made in this page, shown once: the server only ever learns its identity) with its tags;
// assign a policy; delete with the identity typed to confirm. Tags are given at creation, as
// the KMS API's IDENTITY:CREATE gives them: no API changes the tags of an existing identity.

import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { newApiKey } from '../api-key.js';
import { ErrorBox, Ident, Notice, TypedDelete, html, when } from '../ui.js';

/** `name=value` pairs, separated by commas or new lines, as an object; throws a plain message. */
export function parseTags(text) {
  const tags = {};
  for (const part of text.split(/[,\n]/)) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`Tags: '${item}' is not name=value`);
    const name = item.slice(0, eq).trim();
    if (name === '') throw new Error(`Tags: '${item}' has no name`);
    if (Object.hasOwn(tags, name)) throw new Error(`Tags: '${name}' is given twice`);
    tags[name] = item.slice(eq + 1).trim();
  }
  return tags;
}

export function Identities({ enclave }) {
  const [items, setItems] = useState([]);
  const [next, setNext] = useState('');
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState('');
  const [privilege, setPrivilege] = useState('User');
  const [policy, setPolicy] = useState('');
  const [tagText, setTagText] = useState('');
  const [created, setCreated] = useState(null);
  const [assign, setAssign] = useState({ identity: '', policy: '' });

  const load = async (more = false) => {
    try {
      const d = await get('identities', { enclave, continue: more ? next : '', limit: 50 });
      setItems(more ? [...items, ...d.items] : d.items);
      setNext(d.continueAt);
      setError(null);
    } catch (err) {
      setError(err);
      setItems([]);
    }
  };
  useEffect(() => void load(), [enclave]);

  const create = async (e) => {
    e.preventDefault();
    setCreated(null);
    try {
      const tags = parseTags(tagText);
      const { apiKey, identity } = await newApiKey();
      await post('identities/create', { enclave, identity, privilege, policy, tags });
      setTagText('');
      setCreated({ apiKey, identity });
      setNotice('');
      setError(null);
      await load();
    } catch (err) {
      setError(err);
    }
  };
  const doAssign = async (e) => {
    e.preventDefault();
    try {
      await post('identities/assign', { enclave, ...assign });
      setNotice(`Policy ${assign.policy} assigned.`);
      setError(null);
      await load();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (identity) => {
    try {
      await post('identities/delete', { enclave, identity });
      setNotice('Identity deleted.');
      await load();
    } catch (err) {
      setError(err);
    }
  };

  return html`<section>
    <h1>Identities <span class="muted">in ${enclave}</span></h1>
    <form class="inline" onSubmit=${create}>
      <label
        >Privilege
        <select name="privilege" value=${privilege} onChange=${(e) => setPrivilege(e.target.value)}>
          <option>User</option>
          <option>Admin</option>
          <option>SysAdmin</option>
        </select></label
      >
      <label
        >Policy (optional)
        <input
          name="new-identity-policy"
          value=${policy}
          onInput=${(e) => setPolicy(e.target.value)}
      /></label>
      <label
        >Tags (optional)
        <input
          name="new-identity-tags"
          value=${tagText}
          placeholder="team=billing, env=prod"
          onInput=${(e) => setTagText(e.target.value)}
      /></label>
      <button type="submit" class="primary">Create API key</button>
    </form>
    ${
      created &&
      html`<div class="once" role="status">
        <p><strong>Copy this API key now: it is shown once and stored nowhere.</strong></p>
        <p>API key <code data-testid="new-api-key" class="secret">${created.apiKey}</code></p>
        <p>Identity <code data-testid="new-identity">${created.identity}</code></p>
        <button onClick=${() => navigator.clipboard?.writeText(created.apiKey)}>Copy key</button>
        <button onClick=${() => setCreated(null)}>I have stored it</button>
      </div>`
    }
    <form class="inline" onSubmit=${doAssign}>
      <label
        >Identity
        <input
          name="assign-identity"
          value=${assign.identity}
          onInput=${(e) => setAssign({ ...assign, identity: e.target.value })}
          required
      /></label>
      <label
        >Policy
        <input
          name="assign-policy"
          value=${assign.policy}
          onInput=${(e) => setAssign({ ...assign, policy: e.target.value })}
          required
      /></label>
      <button type="submit">Assign policy</button>
    </form>
    <p class="hint">
      Tags are set when the identity is created; to change them, create a new API key with the tags
      and delete the old identity.
    </p>
    <${ErrorBox} error=${error} /><${Notice} text=${notice} />
    <table>
      <thead>
        <tr>
          <th>Identity</th>
          <th>Privilege</th>
          <th>Policy</th>
          <th>Service account of</th>
          <th>Tags</th>
          <th>Created</th>
          <th><span class="sr-only">Actions</span></th>
        </tr>
      </thead>
      <tbody>
        ${items.map(
          (i) =>
            html`<tr key=${i.identity}>
              <td><${Ident} value=${i.identity} /></td>
              <td>${i.privilege}</td>
              <td>${i.policy || html`<span class="muted">none</span>`}</td>
              <td><${Ident} value=${i.serviceAccountOf} /></td>
              <td>
                ${Object.entries(i.tags).map(([k, v]) => html`<span class="tag">${k}=${v}</span> `)}
              </td>
              <td>${when(i.createdAt)}</td>
              <td>
                <${TypedDelete}
                  name=${i.identity}
                  what="identity"
                  onDelete=${() => remove(i.identity)}
                />
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${next && html`<button onClick=${() => load(true)}>Load more</button>`}
  </section>`;
}
