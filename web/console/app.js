// The Keyhold web console: the page shell (session, navigation, enclave choice) and its views.
// Bundled by scripts/build-console.js into dist/console/app.js; see docs/console.md.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get, post, setCsrf } from './api.js';
import { ErrorBox, Ident, html } from './ui.js';
import { SignIn } from './views/sign-in.js';
import { Overview } from './views/overview.js';
import { Enclaves } from './views/enclaves.js';
import { Keys } from './views/keys.js';
import { Identities } from './views/identities.js';
import { Policies } from './views/policies.js';
import { Audit } from './views/audit.js';
import { ServerLog } from './views/server-log.js';
import { KeyStore } from './views/keystore.js';

const VIEWS = [
  ['overview', 'Overview'],
  ['enclaves', 'Enclaves'],
  ['keys', 'Keys'],
  ['identities', 'Identities'],
  ['policies', 'Policies'],
  ['audit', 'Audit log'],
  ['log', 'Server log'],
  // Shown in KES gateway mode only.
  ['keystore', 'Key store'],
];

function viewOf(hash) {
  const name = hash.replace(/^#\/?/, '');
  return VIEWS.some(([v]) => v === name) ? name : 'overview';
}

function App() {
  const [session, setSession] = useState(null);
  const [error, setError] = useState(null);
  const [view, setView] = useState(viewOf(location.hash));
  // The enclave the views work in: kept for the tab, so a reload stays where it was.
  const [enclave, setEnclaveState] = useState(sessionStorage.getItem('keyhold.enclave') ?? '');
  const setEnclave = (name) => {
    sessionStorage.setItem('keyhold.enclave', name);
    setEnclaveState(name);
  };

  useEffect(() => {
    get('session').then((s) => {
      if (s.signedIn) setCsrf(s.csrf);
      setSession(s);
    }, setError);
    const onHash = () => setView(viewOf(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    if (session?.signedIn && enclave === '') setEnclave(session.defaultEnclave);
  }, [session]);
  // A request that finds the session gone (expired, signed out elsewhere) returns to sign-in.
  useEffect(() => {
    const onReject = (event) => {
      if (event.reason?.status === 401) setSession({ signedIn: false, certificate: '' });
    };
    addEventListener('unhandledrejection', onReject);
    return () => removeEventListener('unhandledrejection', onReject);
  }, []);

  if (error) return html`<main id="main"><${ErrorBox} error=${error} /></main>`;
  if (!session) return html`<main id="main"><p>Loading…</p></main>`;
  if (!session.signedIn) {
    return html`<${SignIn}
      certificate=${session.certificate}
      onSignedIn=${(s) => setSession(s)}
    />`;
  }

  const signOut = async () => {
    try {
      await post('sign-out');
    } finally {
      setCsrf('');
      setSession({ signedIn: false, certificate: '' });
    }
  };
  const pick = (name) => {
    setEnclave(name);
    location.hash = '#/keys';
  };
  const props = { enclave };
  return html`<div class="shell">
    <a class="skip" href="#main">Skip to content</a>
    <header>
      <span class="brand">Keyhold</span>
      <nav aria-label="Console">
        ${VIEWS.filter(([v]) => v !== 'keystore' || session.gateway).map(([v, label]) => html`<a href=${`#/${v}`} aria-current=${view === v ? 'page' : undefined}>${label}</a>`)}
      </nav>
      <label class="enclave"
        >Enclave
        <input
          name="enclave"
          value=${enclave}
          onChange=${(e) => setEnclave(e.target.value.trim())}
          size="14"
      /></label>
      <span class="who"
        >${session.root ? 'root' : html`<${Ident} value=${session.identity} />`}</span
      >
      <button onClick=${signOut}>Sign out</button>
    </header>
    <main id="main" tabindex="-1">
      ${view === 'overview' && html`<${Overview} />`}
      ${view === 'enclaves' && html`<${Enclaves} onPick=${pick} />`}
      ${view === 'keys' && html`<${Keys} ...${props} />`}
      ${view === 'identities' && html`<${Identities} ...${props} />`}
      ${view === 'policies' && html`<${Policies} ...${props} />`}
      ${view === 'audit' && html`<${Audit} />`} ${view === 'log' && html`<${ServerLog} />`}
      ${view === 'keystore' && html`<${KeyStore} />`}
    </main>
    <footer>
      Keyhold ${session.version} · session ends after inactivity · <code>${session.identity}</code>
    </footer>
  </div>`;
}

// The page's "Loading…" placeholder goes: preact renders beside what it did not create.
const mount = document.getElementById('app');
mount.textContent = '';
render(html`<${App} />`, mount);
