# The optional native data-key crypto (keyhold_crypto.c). Built by scripts/build-native.js on
# `npm install` / `npm ci` against the running Node's own headers; it links nothing: the OpenSSL
# symbols it calls are those the node binary exports.
{
  "targets": [
    {
      "target_name": "keyhold_crypto",
      "sources": ["keyhold_crypto.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["-O2", "-Wall", "-Wextra"]
      }
    }
  ]
}
