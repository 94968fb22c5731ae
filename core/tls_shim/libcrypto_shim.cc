// Loaded in memory under the SONAME "libcrypto.so" by core/civetweb_tls.cc:
// civetweb 1.15 dlopen()s the unversioned name, which only exists where libssl-dev
// is installed. Every symbol comes from the dependency libcrypto.so.3.
#include <openssl/crypto.h>

extern "C" __attribute__((visibility("default"))) unsigned long aee_libcrypto_shim_version() {
  return OpenSSL_version_num();  // a reference, so the linker keeps libcrypto.so.3 as a dependency
}
