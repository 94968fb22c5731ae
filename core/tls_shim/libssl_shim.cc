// Loaded in memory under the SONAME "libssl.so" by core/civetweb_tls.cc, so that
// Debian's civetweb 1.15 (built for the OpenSSL 1.1 API, dlopen()ing "libssl.so"
// and looking every function up with dlsym) finds OpenSSL 3 plus the one function
// OpenSSL 3 renamed. dlsym() on this object also searches its dependencies
// (libssl.so.3, libcrypto.so.3), which provide everything else.
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate

extern "C" __attribute__((visibility("default"))) X509* SSL_get_peer_certificate(const SSL* ssl) {
  return SSL_get1_peer_certificate(ssl);
}
