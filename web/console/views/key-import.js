// Importing a key: its 32 bytes typed or pasted (base64 or hex) into this form, checked here,
// sent once in the import request and never shown again; the server runs the same core import
// (and validation) as the KMS and KES APIs, and answers nothing but success or the error.

import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { ErrorBox, html } from '../ui.js';

const KEY_BYTES = 32;

/** The bytes of `text` in `format` ('base64' — standard or URL-safe — or 'hex'); throws a plain message. */
export function bytesOf(text, format, what) {
  const value = text.replace(/\s+/g, '');
  if (value === '') throw new Error(`${what}: enter ${KEY_BYTES} bytes as ${format}`);
  let bytes;
  if (format === 'hex') {
    if (!/^([0-9a-fA-F]{2})+$/.test(value)) {
      throw new Error(`${what}: hex needs pairs of 0-9 a-f`);
    }
    bytes = Uint8Array.from(value.match(/../g), (pair) => parseInt(pair, 16));
  } else {
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) {
      throw new Error(`${what}: base64 allows A-Z a-z 0-9 + / (or - _) and = padding`);
    }
    const std = value.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
    if (std.length % 4 === 1) throw new Error(`${what}: incomplete base64`);
    try {
      const raw = atob(std + '='.repeat((4 - (std.length % 4)) % 4));
      bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0));
    } catch {
      throw new Error(`${what}: not valid base64`);
    }
  }
  if (bytes.length !== KEY_BYTES) {
    const n = bytes.length;
    bytes.fill(0);
    throw new Error(`${what}: must be ${KEY_BYTES} bytes, got ${n}`);
  }
  return bytes;
}

function base64Of(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

export function KeyImport({ enclave, onImported, onClose }) {
  const [name, setName] = useState('');
  const [type, setType] = useState('AES256');
  const [format, setFormat] = useState('base64');
  const [key, setKey] = useState('');
  const [hmacKey, setHmacKey] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    let keyBytes = null;
    let hmacBytes = null;
    try {
      keyBytes = bytesOf(key, format, 'Key');
      if (hmacKey.trim() !== '') hmacBytes = bytesOf(hmacKey, format, 'HMAC key');
    } catch (err) {
      keyBytes?.fill(0);
      setError(err);
      return;
    }
    setBusy(true);
    try {
      const body = { enclave, name, type, key: base64Of(keyBytes) };
      if (hmacBytes) body.hmacKey = base64Of(hmacBytes);
      await post('keys/import', body);
      // Sent once: the form forgets the bytes.
      setKey('');
      setHmacKey('');
      setName('');
      onImported(name);
    } catch (err) {
      setError(err);
    } finally {
      keyBytes.fill(0);
      hmacBytes?.fill(0);
      setBusy(false);
    }
  };

  return html`<form class="import" onSubmit=${submit} aria-label="Import a key">
    <h2>Import a key</h2>
    <p class="hint">
      The key bytes are sent once, in this request over the signed-in session; the server keeps them
      sealed, never logs them and never shows them again.
    </p>
    <div class="fields">
      <label
        >Name
        <input
          name="import-name"
          value=${name}
          onInput=${(e) => setName(e.target.value)}
          required
          autocomplete="off"
      /></label>
      <label
        >Type
        <select name="import-type" value=${type} onChange=${(e) => setType(e.target.value)}>
          <option value="AES256">AES256</option>
          <option value="ChaCha20">ChaCha20</option>
        </select></label
      >
      <label
        >Encoding
        <select name="import-format" value=${format} onChange=${(e) => setFormat(e.target.value)}>
          <option value="base64">base64</option>
          <option value="hex">hex</option>
        </select></label
      >
      <label
        >Key (32 bytes)
        <input
          name="import-key"
          type="password"
          value=${key}
          onInput=${(e) => setKey(e.target.value)}
          required
          autocomplete="off"
          spellcheck="false"
      /></label>
      <label
        >HMAC key (optional, 32 bytes)
        <input
          name="import-hmac-key"
          type="password"
          value=${hmacKey}
          onInput=${(e) => setHmacKey(e.target.value)}
          autocomplete="off"
          spellcheck="false"
      /></label>
    </div>
    <${ErrorBox} error=${error} />
    <button type="submit" class="primary" disabled=${busy}>Import key</button>
    <button type="button" onClick=${onClose}>Cancel</button>
  </form>`;
}
