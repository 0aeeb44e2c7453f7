// A line chart in SVG (no canvas, no inline style: the page's CSP allows neither), for the
// overview's series over the last hour.

import { html } from './ui.js';

const W = 560;
const H = 140;
const PAD = 28;

/** `series`: [{ name, values: number|null[], className }], `times`: ms since epoch. */
export function LineChart({ title, unit, times, series }) {
  const all = series.flatMap((s) => s.values.filter((v) => v !== null));
  const max = Math.max(1e-9, ...all) * 1.1;
  const n = times.length;
  const x = (i) => PAD + (n <= 1 ? 0 : (i * (W - PAD - 8)) / (n - 1));
  const y = (v) => H - PAD + 4 - (v / max) * (H - PAD - 8);
  const path = (values) => {
    let d = '';
    values.forEach((v, i) => {
      if (v === null) return;
      d += `${d === '' || values[i - 1] === null ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
    });
    return d;
  };
  const last = (s) => {
    for (let i = s.values.length - 1; i >= 0; i--) if (s.values[i] !== null) return s.values[i];
    return null;
  };
  return html`<figure class="chart">
    <figcaption>
      ${title}
      ${series.map((s) => html` <span class=${`legend ${s.className}`}>${s.name}: ${last(s) === null ? '—' : `${fmt(last(s))} ${unit}`}</span>`)}
    </figcaption>
    <svg viewBox=${`0 0 ${W} ${H}`} role="img" aria-label=${`${title}, last hour`}>
      <line x1=${PAD} y1=${H - PAD + 4} x2=${W - 8} y2=${H - PAD + 4} class="axis" />
      <text x="2" y="12" class="tick">${fmt(max)}</text>
      <text x="2" y=${H - PAD + 4} class="tick">0</text>
      <text x=${PAD} y=${H - 6} class="tick">
        ${n > 0 ? new Date(times[0]).toISOString().slice(11, 16) : ''}
      </text>
      <text x=${W - 50} y=${H - 6} class="tick">
        ${n > 0 ? new Date(times[n - 1]).toISOString().slice(11, 16) : ''}
      </text>
      ${series.map((s) => html`<path d=${path(s.values)} class=${`line ${s.className}`} fill="none" />`)}
    </svg>
  </figure>`;
}

function fmt(v) {
  if (v >= 100) return v.toFixed(0);
  if (v >= 1) return v.toFixed(1);
  return v.toFixed(2);
}
