// Overview: version, uptime, the nodes and their state, the key store in gateway mode, and
// request rate, error rate and latency over the last hour (sampled by the server).

import { get } from '../api.js';
import { LineChart } from '../chart.js';
import { ErrorBox, html, usePolled } from '../ui.js';
import { storeState } from './keystore.js';

function duration(seconds) {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m` : `${m}m ${seconds % 60}s`;
}

export function Overview() {
  const [data, error] = usePolled(get, 'overview', 10_000);
  if (!data)
    return html`<section>
      <h1>Overview</h1>
      <${ErrorBox} error=${error} />${!error && html`<p>Loading…</p>`}
    </section>`;
  const points = data.metrics ?? [];
  const times = points.map((p) => p.time);
  return html`<section>
    <h1>Overview</h1>
    <${ErrorBox} error=${error} />
    <dl class="facts">
      <div>
        <dt>Version</dt>
        <dd data-testid="version">${data.version}</dd>
      </div>
      <div>
        <dt>Node</dt>
        <dd>${data.host}</dd>
      </div>
      <div>
        <dt>Uptime</dt>
        <dd>${duration(data.uptimeSeconds)}</dd>
      </div>
      <div>
        <dt>Mode</dt>
        <dd>${data.gateway ? 'KES gateway' : 'sealed state'}</dd>
      </div>
      ${
        data.keyStore &&
        data.gateway &&
        html`<div>
          <dt>Key store</dt>
          <dd data-testid="overview-keystore">
            <a href="#/keystore">${data.keyStore.kind}</a>: ${storeState(data.keyStore)}
          </dd>
        </div>`
      }
    </dl>
    ${
      data.cluster
        ? html`<h2>Nodes</h2>
            <table>
              <thead>
                <tr>
                  <th>Id</th>
                  <th>Address</th>
                  <th>Role</th>
                  <th>State</th>
                  <th>Commit</th>
                  <th>Uptime</th>
                </tr>
              </thead>
              <tbody>
                ${data.cluster.up.map(
                  (n) =>
                    html`<tr>
                      <td>${n.id}</td>
                      <td>${n.host}</td>
                      <td>${n.role}</td>
                      <td class="ok">up</td>
                      <td>${n.commit}</td>
                      <td>${duration(n.uptimeSeconds)}</td>
                    </tr>`,
                )}
                ${data.cluster.down.map(
                  (n) =>
                    html`<tr>
                      <td>${n.id}</td>
                      <td>${n.host}</td>
                      <td>—</td>
                      <td class="bad">unreachable</td>
                      <td>—</td>
                      <td>—</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
        : html`<p class="muted">Node and cluster state need SysAdmin rights.</p>`
    }
    ${
      data.metrics
        ? html`<h2>Requests (last hour, every 10 s)</h2>
            ${points.length < 2 ? html`<p class="muted">Collecting samples: the charts fill in over the next minutes.</p>` : null}
            <div class="charts">
              <${LineChart}
                title="Request rate"
                unit="req/s"
                times=${times}
                series=${[{ name: 'requests', values: points.map((p) => p.requestsPerSecond), className: 's1' }]}
              />
              <${LineChart}
                title="Errors"
                unit="/s"
                times=${times}
                series=${[
                  { name: '5xx', values: points.map((p) => p.errorsPerSecond), className: 's3' },
                  { name: '4xx', values: points.map((p) => p.refusalsPerSecond), className: 's2' },
                ]}
              />
              <${LineChart}
                title="Latency"
                unit="ms"
                times=${times}
                series=${[
                  { name: 'p50 ≤', values: points.map((p) => p.p50Ms), className: 's1' },
                  { name: 'p99 ≤', values: points.map((p) => p.p99Ms), className: 's3' },
                ]}
              />
            </div>`
        : html`<p class="muted">Request metrics need SysAdmin rights.</p>`
    }
  </section>`;
}
