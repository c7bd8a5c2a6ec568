// OpenSSL (Debian: libssl-dev): libcrypto for SHA-256, libssl for TLS.
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/err.h>

// Macros Swift cannot import, as functions.

/// TLS 1.2 or later only; no renegotiation, no compression, the server's cipher order; partial writes (memory BIOs
/// take what SSL_write gives them in pieces), buffers released while idle. 1 on success.
static inline int quill_tls_configure(SSL_CTX *ctx) {
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) return 0;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    return 1;
}

/// ALPN: the server speaks HTTP/1.1 only. A client that offers h2 and http/1.1 gets http/1.1; one that offers
/// only h2 gets no ALPN answer and may go on with HTTP/1.1 or give up.
static int quill_tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                 const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl; (void)arg;
    static const unsigned char http11[] = "\x08http/1.1";
    if (SSL_select_next_proto((unsigned char **)out, outlen, http11, sizeof(http11) - 1, in, inlen)
        == OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_OK;
    return SSL_TLSEXT_ERR_NOACK;
}

static inline void quill_tls_offer_http11(SSL_CTX *ctx) {
    SSL_CTX_set_alpn_select_cb(ctx, quill_tls_alpn_select, NULL);
}

static inline size_t quill_bio_pending(BIO *bio) { return BIO_ctrl_pending(bio); }
