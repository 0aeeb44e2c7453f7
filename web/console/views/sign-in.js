// Sign-in: an API key pasted here signs the server's challenge in this page (WebCrypto) and is
// never sent; or, on a connection with a known client certificate, one button.

import { useState } from 'preact/hooks';
import { post, setCsrf } from '../api.js';
import { signChallenge } from '../api-key.js';
import { ErrorBox, html } from '../ui.js';

export function SignIn({ certificate, onSignedIn }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  const withKey = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { challenge, host } = await post('challenge');
      const proof = await signChallenge(key, host || location.host, challenge);
      setKey('');
      const session = await post('sign-in', { challenge, ...proof });
      setCsrf(session.csrf);
      onSignedIn(session);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const withCertificate = async () => {
    setBusy(true);
    setError(null);
    try {
      const session = await post('sign-in', { certificate: true });
      setCsrf(session.csrf);
      onSignedIn(session);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return html`<main class="sign-in" id="main">
    <h1>Keyhold console</h1>
    <form onSubmit=${withKey}>
      <label for="api-key">API key</label>
      <input
        id="api-key"
        type="password"
        autocomplete="off"
        spellcheck="false"
        placeholder="k1:… or k2:…"
        value=${key}
        onInput=${(e) => setKey(e.target.value)}
        required
      />
      <p class="hint">
        The key stays in this page: it signs a one-time challenge from the server, which then knows
        your identity. Only the signature is sent.
      </p>
      <button type="submit" class="primary" disabled=${busy}>Sign in</button>
    </form>
    ${
      certificate &&
      html`<div class="cert">
        <p>This connection presents a client certificate for <code>${certificate}</code>.</p>
        <button onClick=${withCertificate} disabled=${busy}>Sign in with the certificate</button>
      </div>`
    }
    <${ErrorBox} error=${error} />
  </main>`;
}
