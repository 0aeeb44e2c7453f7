// The key store of a KES gateway: kind and endpoint, state and latency (a probe made on each
// refresh), the key cache's settings and occupancy, and the node's recent log lines about the
// store. Root and SysAdmins only, as the overview's key store state.

import { get } from '../api.js';
import { ErrorBox, html, usePolled, when } from '../ui.js';

/** A cache expiry in milliseconds as a person reads it; 0 is "never". */
function expiry(ms) {
  if (!ms) return 'never';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

export function storeState(ks) {
  if (ks.state === 'unreachable') return html`<span class="bad">unreachable</span>`;
  if (ks.state === 'failing') return html`<span class="bad">reachable, failing</span>`;
  return html`<span class="ok">reachable</span>, ${ks.latencyMs} ms`;
}

export function KeyStore() {
  const [data, error] = usePolled(get, 'keystore', 10_000);
  if (!data) {
    return html`<section>
      <h1>Key store</h1>
      <${ErrorBox} error=${error} />${!error && html`<p>Loading…</p>`}
    </section>`;
  }
  if (!data.gateway) {
    return html`<section>
      <h1>Key store</h1>
      <p>This node keeps its keys in its own sealed state: there is no external key store.</p>
    </section>`;
  }
  return html`<section>
    <h1>Key store</h1>
    <${ErrorBox} error=${error} />
    <dl class="facts">
      <div>
        <dt>Kind</dt>
        <dd data-testid="keystore-kind">${data.kind}</dd>
      </div>
      <div>
        <dt>Store</dt>
        <dd><code>${data.description}</code></dd>
      </div>
      <div>
        <dt>State</dt>
        <dd data-testid="keystore-state">${storeState(data)}</dd>
      </div>
      ${
        data.error &&
        html`<div>
          <dt>Last probe</dt>
          <dd>${data.error}</dd>
        </div>`
      }
    </dl>
    <h2>Cache</h2>
    <dl class="facts">
      <div>
        <dt>Keys cached</dt>
        <dd data-testid="cache-keys">${data.cache.keys}</dd>
      </div>
      <div>
        <dt>Mode</dt>
        <dd>
          ${data.cache.offline ? html`<span class="bad">offline (store failed its last probe)</span>` : 'online'}
        </dd>
      </div>
      <div>
        <dt>Evict all every</dt>
        <dd>${expiry(data.cache.expiryAny)}</dd>
      </div>
      <div>
        <dt>Evict unused after</dt>
        <dd>${expiry(data.cache.expiryUnused)}</dd>
      </div>
      <div>
        <dt>Keep while offline</dt>
        <dd>
          ${data.cache.expiryOffline ? expiry(data.cache.expiryOffline) : 'no (offline caching off)'}
        </dd>
      </div>
    </dl>
    <h2>Recent errors <span class="muted">(last hour)</span></h2>
    ${
      data.recentErrors === null
        ? html`<p class="muted">
            The store's error messages need the right to read the server log.
          </p>`
        : data.recentErrors.length === 0
          ? html`<p class="muted" data-testid="no-store-errors">None.</p>`
          : html`<table class="log">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Level</th>
                  <th>Message</th>
                </tr>
              </thead>
              <tbody>
                ${data.recentErrors.map(
                  (e) =>
                    html`<tr>
                      <td>${when(e.time)}</td>
                      <td>${e.level}</td>
                      <td>${e.message}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
    }
  </section>`;
}
