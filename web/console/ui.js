// Small shared pieces of the console's views: htm bound to preact, error and notice boxes, polling,
// typed-confirmation deletes, time and identity formatting.

import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h);

/** An error from the server (or the browser), read out to screen readers. */
export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert" data-testid="error">
    ${error.message ?? String(error)}
  </p>`;
}

export function Notice({ text }) {
  if (!text) return null;
  return html`<p class="notice" role="status">${text}</p>`;
}

export function when(date) {
  if (!date) return '';
  const d = new Date(date);
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
}

/** An identity, shortened for tables; the full value in the title. */
export function Ident({ value }) {
  if (!value) return html`<span class="muted">—</span>`;
  const short = value.length > 20 ? `${value.slice(0, 14)}…${value.slice(-4)}` : value;
  return html`<code title=${value}>${short}</code>`;
}

/**
 * A delete button that asks for the name to be typed before it deletes: the destructive step
 * needs a deliberate act, not a stray Enter.
 */
export function TypedDelete({ name, what, onDelete }) {
  const [open, setOpen] = useState(false);
  const [typed, setTyped] = useState('');
  const input = useRef(null);
  useEffect(() => {
    if (open) input.current?.focus();
  }, [open]);
  if (!open) {
    return html`<button
      class="danger"
      onClick=${() => setOpen(true)}
      aria-label=${`Delete ${what} ${name}`}
    >
      Delete
    </button>`;
  }
  const submit = (e) => {
    e.preventDefault();
    if (typed === name) onDelete(typed);
  };
  return html`<form class="confirm" onSubmit=${submit}>
    <label
      >Type <code>${name}</code> to delete this ${what}
      <input
        ref=${input}
        value=${typed}
        onInput=${(e) => setTyped(e.target.value)}
        autocomplete="off"
        aria-label=${`Confirm the ${what} name`}
    /></label>
    <button type="submit" class="danger" disabled=${typed !== name}>Delete ${what}</button>
    <button
      type="button"
      onClick=${() => {
        setOpen(false);
        setTyped('');
      }}
    >
      Cancel
    </button>
  </form>`;
}

/**
 * `get(path)` now and every `ms` while the view is shown: the newest answer, and the error of the
 * newest attempt (null once one succeeds). An answer that comes after the view is gone is dropped.
 */
export function usePolled(get, path, ms) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    const load = () =>
      get(path).then(
        (d) => live && (setData(d), setError(null)),
        (e) => live && setError(e),
      );
    load();
    const timer = setInterval(load, ms);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [get, path, ms]);
  return [data, error];
}

/** Calls `fn` after `ms` without a new value. */
export function useDebounced(value, ms) {
  const [current, setCurrent] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setCurrent(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return current;
}
