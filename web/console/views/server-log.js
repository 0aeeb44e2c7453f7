// The live tail of the server's event log (errors, warnings, notices), newest first, with a
// level and a text filter: what `keyhold log` and KES's /v1/log/error show.

import { useState } from 'preact/hooks';
import { LiveTail } from '../live-tail.js';
import { useLiveStream } from '../live-stream.js';
import { html } from '../ui.js';

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
  return html`<${LiveTail}
    title="Server log"
    testId="log-state"
    state=${state}
    what="log"
    waiting="Waiting for events…"
    columns=${['Time', 'Level', 'Message']}
    rows=${shown}
    cells=${(r) => html`
      <td>${r.time.slice(11, 23)}</td>
      <td class=${r.level === 'ERROR' ? 'bad' : ''}>${r.level}</td>
      <td>${r.message}</td>
    `}
  >
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
  <//>`;
}
