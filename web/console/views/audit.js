// The live audit tail: one row per answered request, newest first, as the server streams them
// (Server-Sent Events), with a filter over every field.

import { useState } from 'preact/hooks';
import { LiveTail } from '../live-tail.js';
import { useLiveStream } from '../live-stream.js';
import { Ident, html } from '../ui.js';

export function Audit() {
  const [rows, state] = useLiveStream('/console/api/audit/stream');
  const [filter, setFilter] = useState('');
  const needle = filter.trim().toLowerCase();
  const shown = needle
    ? rows.filter((r) =>
        `${r.identity} ${r.method} ${r.path} ${r.status} ${r.ip}`.toLowerCase().includes(needle),
      )
    : rows;
  return html`<${LiveTail}
    title="Audit log"
    testId="audit-state"
    state=${state}
    what="audit"
    waiting="Waiting for requests…"
    columns=${['Time', 'Identity', 'Method', 'Path', 'Status', 'ms']}
    rows=${shown}
    cells=${(r) => html`
      <td>${r.time.slice(11, 23)}</td>
      <td><${Ident} value=${r.identity} /></td>
      <td>${r.method}</td>
      <td><code>${r.path}</code></td>
      <td class=${r.status >= 400 ? 'bad' : ''}>${r.status}</td>
      <td>${r.durationMs}</td>
    `}
  >
    <label class="search"
      >Filter
      <input
        type="search"
        name="audit-filter"
        value=${filter}
        onInput=${(e) => setFilter(e.target.value)}
    /></label>
  <//>`;
}
