// The live tail of the server's event log (errors, warnings, notices), newest first, with a
// level and a text filter: what `keyhold log` and KES's /v1/log/error show.

import { useState } from 'preact/hooks';
import { useLiveStream } from '../live-stream.js';
import { ErrorBox, html } from '../ui.js';

const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'];

export function ServerLog() {
  const [rows, state] = useLiveStream('/console/api/log/stream');
  const [filter, setFilter] = useState('');
  const [level, setLevel] = useState('DEBUG');
  const needle = filter.trim().toLowerCase();
  const shown = rows.filter(
    (r) =>
      LEVELS.indexOf(r.level) >= LEVELS.indexOf(level) &&
      (!needle || r.message.toLowerCase().includes(needle)),
  );
  return html`<section>
    <h1>Server log <span class=${`badge ${state}`} data-testid="log-state">${state}</span></h1>
    <form class="inline" onSubmit=${(e) => e.preventDefault()}>
      <label
        >Lowest level
        <select value=${level} onChange=${(e) => setLevel(e.target.value)}>
          ${LEVELS.map((l) => html`<option>${l}</option>`)}
        </select></label
      >
      <label
        >Filter
        <input
          type="search"
          name="log-filter"
          value=${filter}
          onInput=${(e) => setFilter(e.target.value)}
      /></label>
    </form>
    ${
      state === 'closed' &&
      html`<${ErrorBox}
        error=${new Error('The log stream closed: it needs SysAdmin rights and a live session.')}
      />`
    }
    <table class="audit" aria-live="polite">
      <thead>
        <tr>
          <th>Time</th>
          <th>Level</th>
          <th>Message</th>
        </tr>
      </thead>
      <tbody>
        ${shown.map(
          (r, i) =>
            html`<tr key=${`${r.time}-${i}`}>
              <td>${r.time.slice(11, 23)}</td>
              <td class=${r.level === 'ERROR' ? 'bad' : ''}>${r.level}</td>
              <td>${r.message}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${shown.length === 0 && html`<p class="muted">Waiting for events…</p>`}
  </section>`;
}
