// A live tail's page: the heading with the stream's state, the page's filter controls, a table of
// the rows shown (newest first), and what to say while there are none or once the stream closed.
// The audit log and the server log are both this page over their own stream.

import { ErrorBox, html } from './ui.js';

/**
 * `columns`: the header cells; `cells(row)`: one row's cells; `what`: the stream's name in
 * messages; `children`: the filter controls.
 */
export function LiveTail({ title, testId, state, what, waiting, columns, rows, cells, children }) {
  return html`<section>
    <h1>${title} <span class=${`badge ${state}`} data-testid=${testId}>${state}</span></h1>
    ${children}
    ${
      state === 'closed' &&
      html`<${ErrorBox}
        error=${new Error(`The ${what} stream closed: it needs SysAdmin rights and a live session.`)}
      />`
    }
    <table class="audit" aria-live="polite">
      <thead>
        <tr>
          ${columns.map((c) => html`<th>${c}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (r, i) =>
            html`<tr key=${`${r.time}-${i}`}>
              ${cells(r)}
            </tr>`,
        )}
      </tbody>
    </table>
    ${rows.length === 0 && html`<p class="muted">${waiting}</p>`}
  </section>`;
}
