// OpenSSL (Debian: libssl-dev): libcrypto for SHA-256, libssl for TLS.
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
