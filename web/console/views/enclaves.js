// Enclaves: list, create, delete (with the name typed to confirm). Cluster-level: SysAdmin.

import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { ErrorBox, Ident, Notice, TypedDelete, html, when } from '../ui.js';

export function Enclaves({ onPick }) {
  const [items, setItems] = useState([]);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState('');
  const [name, setName] = useState('');
  const load = () => get('enclaves').then((d) => (setItems(d.items), setError(null)), setError);
  useEffect(() => void load(), []);
  const create = async (e) => {
    e.preventDefault();
    try {
      await post('enclaves/create', { name });
      setNotice(`Enclave ${name} created.`);
      setName('');
      setError(null);
      await load();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (enclave) => {
    try {
      await post('enclaves/delete', { name: enclave, confirm: enclave });
      setNotice(`Enclave ${enclave} deleted.`);
      await load();
    } catch (err) {
      setError(err);
    }
  };
  return html`<section>
    <h1>Enclaves</h1>
    <form class="inline" onSubmit=${create}>
      <label
        >New enclave
        <input
          name="enclave-name"
          value=${name}
          onInput=${(e) => setName(e.target.value)}
          required
          pattern="[0-9A-Za-z_-]{1,80}"
      /></label>
      <button type="submit" class="primary">Create enclave</button>
    </form>
    <${ErrorBox} error=${error} /><${Notice} text=${notice} />
    <table>
      <thead>
        <tr>
          <th>Name</th>
          <th>Created</th>
          <th>By</th>
          <th><span class="sr-only">Actions</span></th>
        </tr>
      </thead>
      <tbody>
        ${items.map(
          (e) =>
            html`<tr key=${e.name}>
              <td><button class="link" onClick=${() => onPick(e.name)}>${e.name}</button></td>
              <td>${when(e.createdAt)}</td>
              <td><${Ident} value=${e.createdBy} /></td>
              <td>
                <${TypedDelete} name=${e.name} what="enclave" onDelete=${() => remove(e.name)} />
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}
