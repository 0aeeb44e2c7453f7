// The live audit tail: one row per answered request, newest first, as the server streams them
// (Server-Sent Events), with a filter over every field.

import { useState } from 'preact/hooks';
import { useLiveStream } from '../live-stream.js';
import { ErrorBox, Ident, html } from '../ui.js';

export function Audit() {
  const [rows, state] = useLiveStream('/console/api/audit/stream');
  const [filter, setFilter] = useState('');
  const needle = filter.trim().toLowerCase();
  const shown = needle
    ? rows.filter((r) =>
        `${r.identity} ${r.method} ${r.path} ${r.status} ${r.ip}`.toLowerCase().includes(needle),
      )
    : rows;
  return html`<section>
    <h1>Audit log <span class=${`badge ${state}`} data-testid="audit-state">${state}</span></h1>
    <label class="search"
      >Filter
      <input
        type="search"
        name="audit-filter"
        value=${filter}
        onInput=${(e) => setFilter(e.target.value)}
    /></label>
    ${state === 'closed' && html`<${ErrorBox} error=${new Error('The audit stream closed: it needs SysAdmin rights and a live session.')} />`}
    <table class="audit" aria-live="polite">
      <thead>
        <tr>
          <th>Time</th>
          <th>Identity</th>
          <th>Method</th>
          <th>Path</th>
          <th>Status</th>
          <th>ms</th>
        </tr>
      </thead>
      <tbody>
        ${shown.map(
          (r, i) =>
            html`<tr key=${`${r.time}-${i}`}>
              <td>${r.time.slice(11, 23)}</td>
              <td><${Ident} value=${r.identity} /></td>
              <td>${r.method}</td>
              <td><code>${r.path}</code></td>
              <td class=${r.status >= 400 ? 'bad' : ''}>${r.status}</td>
              <td>${r.durationMs}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${shown.length === 0 && html`<p class="muted">Waiting for requests…</p>`}
  </section>`;
}
