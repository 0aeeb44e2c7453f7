// Keyhold's optional native data-key crypto (docs/performance.md#native-data-key-crypto): seals and
// opens one KES/MinIO raw ciphertext per call with Node's own libcrypto, reusing one cipher context
// per algorithm and direction for each JS thread instead of a new node:crypto object per data key.
// src/crypto/native-crypto.ts loads it, checks it against node:crypto, and falls back when it cannot.

#define NAPI_VERSION 8
// SHA256_Init & co. are deprecated in OpenSSL 3 but exported by every Node 20+ binary; they hash
// on a stack context that is wiped here, where EVP_MD_CTX would keep the state on the heap.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <limits.h>
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

enum { KEY_LEN = 32, IV_LEN = 16, NONCE_LEN = 12, TAG_LEN = 16, OVERHEAD = 44, BLOCK = 64 };
enum { ALG_AES256 = 0, ALG_CHACHA20 = 1 };

/** One JS thread's (one Node-API environment's) cipher contexts: [algorithm][decrypt 0, encrypt 1]. */
typedef struct {
  EVP_CIPHER_CTX *ctx[2][2];
} State;

static const unsigned char ZERO_KEY[KEY_LEN];

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
  return NULL;
}

static napi_value throw_openssl(napi_env env) {
  napi_throw_error(env, "ERR_KEYHOLD_NATIVE_CRYPTO", "keyhold native crypto: an OpenSSL call failed");
  return NULL;
}

/** A Uint8Array argument (a Buffer is one): its bytes and length, or 0 after throwing a TypeError. */
static int bytes_arg(napi_env env, napi_value value, const char *message, unsigned char **data,
                     size_t *length) {
  bool is_typed = false;
  napi_typedarray_type type;
  void *base = NULL;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, length, &base, NULL, NULL) != napi_ok ||
      type != napi_uint8_array) {
    throw_type(env, message);
    return 0;
  }
  *data = base;
  return 1;
}

/** The algorithm argument: 0 (AES256) or 1 (ChaCha20), else -1 after throwing. */
static int algorithm_arg(napi_env env, napi_value value) {
  napi_valuetype kind;
  double algorithm = -1;
  if (napi_typeof(env, value, &kind) != napi_ok || kind != napi_number ||
      napi_get_value_double(env, value, &algorithm) != napi_ok ||
      (algorithm != ALG_AES256 && algorithm != ALG_CHACHA20)) {
    throw_type(env, "algorithm must be 0 (AES256) or 1 (ChaCha20)");
    return -1;
  }
  return (int)algorithm;
}

static int overlaps(const unsigned char *a, size_t a_len, const unsigned char *b, size_t b_len) {
  return a_len > 0 && b_len > 0 && a < b + b_len && b < a + a_len;
}

/** HMAC-SHA256(key, iv) (RFC 2104, 32-byte key, 16-byte message): the AES256 sub-key. */
static void hmac_sub_key(const unsigned char *key, const unsigned char *iv, unsigned char *out) {
  unsigned char pad[BLOCK];
  unsigned char inner[SHA256_DIGEST_LENGTH];
  SHA256_CTX sha;
  memset(pad, 0x36, BLOCK);
  for (int i = 0; i < KEY_LEN; i++) pad[i] ^= key[i];
  SHA256_Init(&sha);
  SHA256_Update(&sha, pad, BLOCK);
  SHA256_Update(&sha, iv, IV_LEN);
  SHA256_Final(inner, &sha);
  memset(pad, 0x5c, BLOCK);
  for (int i = 0; i < KEY_LEN; i++) pad[i] ^= key[i];
  SHA256_Init(&sha);
  SHA256_Update(&sha, pad, BLOCK);
  SHA256_Update(&sha, inner, sizeof inner);
  SHA256_Final(out, &sha);
  OPENSSL_cleanse(pad, sizeof pad);
  OPENSSL_cleanse(inner, sizeof inner);
  OPENSSL_cleanse(&sha, sizeof sha);
}

static uint32_t load32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

#define ROTL(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define QR(a, b, c, d)                                                                             \
  a += b, d ^= a, d = ROTL(d, 16), c += d, b ^= c, b = ROTL(b, 12), a += b, d ^= a,               \
  d = ROTL(d, 8), c += d, b ^= c, b = ROTL(b, 7)

/** HChaCha20(key, iv) (draft-irtf-cfrg-xchacha §2.2): the ChaCha20 sub-key. OpenSSL has none. */
static void hchacha20_sub_key(const unsigned char *key, const unsigned char *iv, unsigned char *out) {
  uint32_t x[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
  for (int i = 0; i < 8; i++) x[4 + i] = load32(key + 4 * i);
  for (int i = 0; i < 4; i++) x[12 + i] = load32(iv + 4 * i);
  for (int i = 0; i < 10; i++) {
    QR(x[0], x[4], x[8], x[12]);
    QR(x[1], x[5], x[9], x[13]);
    QR(x[2], x[6], x[10], x[14]);
    QR(x[3], x[7], x[11], x[15]);
    QR(x[0], x[5], x[10], x[15]);
    QR(x[1], x[6], x[11], x[12]);
    QR(x[2], x[7], x[8], x[13]);
    QR(x[3], x[4], x[9], x[14]);
  }
  for (int i = 0; i < 4; i++) store32(out + 4 * i, x[i]);
  for (int i = 0; i < 4; i++) store32(out + 16 + 4 * i, x[12 + i]);
  OPENSSL_cleanse(x, sizeof x);
}

static void sub_key(int algorithm, const unsigned char *key, const unsigned char *iv,
                    unsigned char *out) {
  if (algorithm == ALG_AES256) {
    hmac_sub_key(key, iv, out);
  } else {
    hchacha20_sub_key(key, iv, out);
  }
}

/**
 * Keys the reused context for one ciphertext. The context's expanded key is replaced by one of
 * zeros (forget) before the call returns, so no key schedule outlives the call.
 */
static int start(EVP_CIPHER_CTX *ctx, int encrypt, const unsigned char *key,
                 const unsigned char *nonce) {
  return EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, encrypt) == 1;
}

static void forget(EVP_CIPHER_CTX *ctx, int encrypt) {
  EVP_CipherInit_ex(ctx, NULL, NULL, ZERO_KEY, NULL, encrypt);
}

static State *state_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

/**
 * seal(algorithm, masterKey, plaintext, associatedData, out): out is plaintext.length + 44 bytes
 * whose last 28 hold the fresh IV (16) and nonce (12); writes AEAD ciphertext ‖ tag before them.
 */
static napi_value seal_call(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  unsigned char *key, *plaintext, *aad, *out;
  size_t key_len, n, aad_len, out_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc != 5) return throw_type(env, "seal takes 5 arguments");
  int algorithm = algorithm_arg(env, argv[0]);
  if (algorithm < 0) return NULL;
  if (!bytes_arg(env, argv[1], "master key must be a Uint8Array", &key, &key_len) ||
      !bytes_arg(env, argv[2], "plaintext must be a Uint8Array", &plaintext, &n) ||
      !bytes_arg(env, argv[3], "associated data must be a Uint8Array", &aad, &aad_len) ||
      !bytes_arg(env, argv[4], "output must be a Uint8Array", &out, &out_len)) {
    return NULL;
  }
  if (key_len != KEY_LEN) return throw_range(env, "master key must be 32 bytes");
  if (n > INT_MAX - OVERHEAD || aad_len > INT_MAX) return throw_range(env, "input is too long");
  if (out_len != n + OVERHEAD) return throw_range(env, "output must be plaintext length + 44 bytes");
  if (overlaps(out, out_len, plaintext, n) || overlaps(out, out_len, key, key_len)) {
    return throw_range(env, "output must not overlap the inputs");
  }
  State *state = state_of(env);
  EVP_CIPHER_CTX *ctx = state->ctx[algorithm][1];
  const unsigned char *iv = out + n + TAG_LEN;
  unsigned char sub[KEY_LEN];
  int len = 0, ok;
  sub_key(algorithm, key, iv, sub);
  ok = start(ctx, 1, sub, iv + IV_LEN);
  OPENSSL_cleanse(sub, sizeof sub);
  ok = ok && (aad_len == 0 || EVP_EncryptUpdate(ctx, NULL, &len, aad, (int)aad_len) == 1);
  ok = ok && (n == 0 || EVP_EncryptUpdate(ctx, out, &len, plaintext, (int)n) == 1);
  ok = ok && EVP_EncryptFinal_ex(ctx, out + n, &len) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + n) == 1;
  forget(ctx, 1);
  if (!ok) {
    OPENSSL_cleanse(out, n + TAG_LEN);
    return throw_openssl(env);
  }
  return NULL;
}

/**
 * open(algorithm, masterKey, iv, nonce, sealed, associatedData, out) → boolean: out is
 * sealed.length − 16 bytes and receives the plaintext when the ciphertext is authentic (true);
 * otherwise out is zeroed and the answer is false.
 */
static napi_value open_call(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  unsigned char *key, *iv, *nonce, *sealed, *aad, *out;
  size_t key_len, iv_len, nonce_len, sealed_len, aad_len, out_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc != 7) return throw_type(env, "open takes 7 arguments");
  int algorithm = algorithm_arg(env, argv[0]);
  if (algorithm < 0) return NULL;
  if (!bytes_arg(env, argv[1], "master key must be a Uint8Array", &key, &key_len) ||
      !bytes_arg(env, argv[2], "iv must be a Uint8Array", &iv, &iv_len) ||
      !bytes_arg(env, argv[3], "nonce must be a Uint8Array", &nonce, &nonce_len) ||
      !bytes_arg(env, argv[4], "sealed must be a Uint8Array", &sealed, &sealed_len) ||
      !bytes_arg(env, argv[5], "associated data must be a Uint8Array", &aad, &aad_len) ||
      !bytes_arg(env, argv[6], "output must be a Uint8Array", &out, &out_len)) {
    return NULL;
  }
  if (key_len != KEY_LEN) return throw_range(env, "master key must be 32 bytes");
  if (iv_len != IV_LEN) return throw_range(env, "iv must be 16 bytes");
  if (nonce_len != NONCE_LEN) return throw_range(env, "nonce must be 12 bytes");
  if (sealed_len < TAG_LEN) return throw_range(env, "sealed must be at least 16 bytes");
  if (sealed_len > INT_MAX || aad_len > INT_MAX) return throw_range(env, "input is too long");
  size_t n = sealed_len - TAG_LEN;
  if (out_len != n) return throw_range(env, "output must be sealed length - 16 bytes");
  if (overlaps(out, out_len, sealed, sealed_len) || overlaps(out, out_len, key, key_len) ||
      overlaps(out, out_len, iv, iv_len) || overlaps(out, out_len, nonce, nonce_len) ||
      overlaps(out, out_len, aad, aad_len)) {
    return throw_range(env, "output must not overlap the inputs");
  }
  State *state = state_of(env);
  EVP_CIPHER_CTX *ctx = state->ctx[algorithm][0];
  unsigned char sub[KEY_LEN];
  unsigned char tag[TAG_LEN];
  unsigned char last[1];
  int len = 0, ok;
  memcpy(tag, sealed + n, TAG_LEN);
  sub_key(algorithm, key, iv, sub);
  ok = start(ctx, 0, sub, nonce);
  OPENSSL_cleanse(sub, sizeof sub);
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) == 1;
  ok = ok && (aad_len == 0 || EVP_DecryptUpdate(ctx, NULL, &len, aad, (int)aad_len) == 1);
  ok = ok && (n == 0 || EVP_DecryptUpdate(ctx, out, &len, sealed, (int)n) == 1);
  // Final writes nothing for these stream modes; it checks the tag.
  ok = ok && EVP_DecryptFinal_ex(ctx, last, &len) == 1;
  forget(ctx, 0);
  if (!ok) OPENSSL_cleanse(out, n);
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

/**
 * The RFC 2104 HMAC of message[0, length) from the SHA-256 states after the key's inner and outer
 * pad blocks (hashed once per batch instead of twice per line: 2 of a line's ~7 compressions).
 */
static void hmac_from_pads(const SHA256_CTX *inner_pad, const SHA256_CTX *outer_pad,
                           const unsigned char *message, size_t length, unsigned char *mac) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256_CTX sha = *inner_pad;
  SHA256_Update(&sha, message, length);
  SHA256_Final(digest, &sha);
  sha = *outer_pad;
  SHA256_Update(&sha, digest, sizeof digest);
  SHA256_Final(mac, &sha);
  OPENSSL_cleanse(&sha, sizeof sha);
  OPENSSL_cleanse(digest, sizeof digest);
}

/** Writes the decimal digits of n at out; returns how many. */
static size_t write_decimal(unsigned char *out, uint64_t n) {
  unsigned char digits[20];
  size_t count = 0;
  do {
    digits[count++] = (unsigned char)('0' + n % 10);
    n /= 10;
  } while (n > 0);
  for (size_t i = 0; i < count; i++) out[i] = digits[count - 1 - i];
  return count;
}

/**
 * chainLines(lines, inner, outer, prev, seq, out) → bytes written: the audit chain's batch
 * (src/observe/audit-chain.ts nextLines). `lines` holds newline-separated JSON object texts in
 * UTF-8 (empty lines skipped); for each line L (its last byte, the closing brace, dropped) with
 * sequence number N it writes L ‖ ,"seq":N ‖ ,"mac":"<hex>"} ‖ newline into out, where the MAC is
 * HMAC-SHA256 over prev ‖ L ‖ ,"seq":N and becomes the next line's prev. `inner` is scratch
 * starting with key XOR ipad (64 bytes) and must hold 96 bytes plus the longest line plus 30;
 * `outer` starts with key XOR opad. `prev` (32 bytes) is updated in place; N counts up from seq.
 * Throws RangeError when out or inner is too small (nothing is half-written into prev then).
 */
static napi_value chain_lines_call(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  unsigned char *lines, *inner, *outer, *prev, *out;
  size_t lines_len, inner_len, outer_len, prev_len, out_len;
  double seq_arg = -1;
  napi_valuetype kind;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc != 6) return throw_type(env, "chainLines takes 6 arguments");
  if (!bytes_arg(env, argv[0], "lines must be a Uint8Array", &lines, &lines_len) ||
      !bytes_arg(env, argv[1], "inner must be a Uint8Array", &inner, &inner_len) ||
      !bytes_arg(env, argv[2], "outer must be a Uint8Array", &outer, &outer_len) ||
      !bytes_arg(env, argv[3], "prev must be a Uint8Array", &prev, &prev_len)) {
    return NULL;
  }
  if (napi_typeof(env, argv[4], &kind) != napi_ok || kind != napi_number ||
      napi_get_value_double(env, argv[4], &seq_arg) != napi_ok) {
    return throw_type(env, "seq must be a number");
  }
  if (!bytes_arg(env, argv[5], "out must be a Uint8Array", &out, &out_len)) return NULL;
  if (outer_len < BLOCK) return throw_range(env, "outer must be at least 64 bytes");
  if (prev_len != SHA256_DIGEST_LENGTH) return throw_range(env, "prev must be 32 bytes");
  if (!(seq_arg >= 0 && seq_arg <= 9007199254740991.0) || seq_arg != (double)(uint64_t)seq_arg) {
    return throw_range(env, "seq must be a safe non-negative integer");
  }
  // Check the sizes first: a line too long for inner, or an out too small, changes nothing.
  size_t need = 0, longest = 0, count = 0;
  for (size_t from = 0; from < lines_len;) {
    const unsigned char *nl = memchr(lines + from, '\n', lines_len - from);
    size_t end = nl == NULL ? lines_len : (size_t)(nl - lines);
    if (end > from) {
      size_t n = end - from - 1;
      if (n > longest) longest = n;
      need += n + 30 + 8 + 64 + 3;  // ,"seq":N (≤ 30), ,"mac":" (8), hex (64), "}\n (3)
      count++;
    }
    from = end + 1;
  }
  if (seq_arg + (double)count > 9007199254740991.0) return throw_range(env, "seq overflows");
  if (inner_len < BLOCK + SHA256_DIGEST_LENGTH + longest + 30) {
    return throw_range(env, "inner is too small for the longest line");
  }
  if (out_len < need) return throw_range(env, "out is too small");
  static const char HEX[] = "0123456789abcdef";
  uint64_t seq = (uint64_t)seq_arg;
  size_t at = 0;
  unsigned char mac[SHA256_DIGEST_LENGTH];
  SHA256_CTX inner_pad, outer_pad;
  SHA256_Init(&inner_pad);
  SHA256_Update(&inner_pad, inner, BLOCK);
  SHA256_Init(&outer_pad);
  SHA256_Update(&outer_pad, outer, BLOCK);
  for (size_t from = 0; from < lines_len;) {
    const unsigned char *nl = memchr(lines + from, '\n', lines_len - from);
    size_t end = nl == NULL ? lines_len : (size_t)(nl - lines);
    if (end > from) {
      size_t n = end - from - 1;
      unsigned char *body = inner + BLOCK + SHA256_DIGEST_LENGTH;
      memcpy(inner + BLOCK, prev, SHA256_DIGEST_LENGTH);
      memcpy(body, lines + from, n);
      memcpy(body + n, ",\"seq\":", 7);
      size_t t = 7 + write_decimal(body + n + 7, seq);
      hmac_from_pads(&inner_pad, &outer_pad, inner + BLOCK, SHA256_DIGEST_LENGTH + n + t, mac);
      memcpy(out + at, body, n + t);
      at += n + t;
      memcpy(out + at, ",\"mac\":\"", 8);
      at += 8;
      for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[at++] = (unsigned char)HEX[mac[i] >> 4];
        out[at++] = (unsigned char)HEX[mac[i] & 15];
      }
      memcpy(out + at, "\"}\n", 3);
      at += 3;
      memcpy(prev, mac, SHA256_DIGEST_LENGTH);
      seq++;
    }
    from = end + 1;
  }
  OPENSSL_cleanse(&inner_pad, sizeof inner_pad);
  OPENSSL_cleanse(&outer_pad, sizeof outer_pad);
  napi_value result;
  napi_create_double(env, (double)at, &result);
  return result;
}

static void free_state(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  State *state = data;
  for (int a = 0; a < 2; a++) {
    for (int e = 0; e < 2; e++) EVP_CIPHER_CTX_free(state->ctx[a][e]);
  }
  OPENSSL_free(state);
}

static napi_value init(napi_env env, napi_value exports) {
  State *state = OPENSSL_zalloc(sizeof *state);
  if (state == NULL) return throw_openssl(env);
  const EVP_CIPHER *ciphers[2] = {EVP_aes_256_gcm(), EVP_chacha20_poly1305()};
  int ok = 1;
  for (int a = 0; a < 2; a++) {
    for (int e = 0; e < 2; e++) {
      EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
      state->ctx[a][e] = ctx;
      // Both ciphers default to the 12-byte nonce and 16-byte tag the format uses.
      ok = ok && ctx != NULL && EVP_CipherInit_ex(ctx, ciphers[a], NULL, NULL, NULL, e) == 1;
    }
  }
  if (!ok || napi_set_instance_data(env, state, free_state, NULL) != napi_ok) {
    free_state(env, state, NULL);
    return throw_openssl(env);
  }
  napi_property_descriptor properties[] = {
      {"seal", NULL, seal_call, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, open_call, NULL, NULL, NULL, napi_enumerable, NULL},
      {"chainLines", NULL, chain_lines_call, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, 3, properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
