#include "exporter/civetweb_tls.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

// Why this exists. Debian 12's libcivetweb 1.15 is built for the OpenSSL 1.1 API
// with run-time loading: on the first TLS port it dlopen()s the unversioned
// "libssl.so" and "libcrypto.so" and dlsym()s each function. Under OpenSSL 3:
//  - SSL_get_peer_certificate is gone (a macro for SSL_get1_peer_certificate now):
//    mg_start fails with "cannot find SSL_get_peer_certificate", and with
//    mg_init_library(MG_FEATURES_TLS) the failure is silent and the first HTTPS
//    request calls a NULL pointer (civetweb issue 1334: the segfault);
//  - the unversioned names exist only where libssl-dev is installed, so a runtime
//    image has no TLS at all.
// Fix, with no action from the user: two tiny shared objects built with this
// binary and embedded in it, whose SONAMEs are "libssl.so" and "libcrypto.so" and
// which depend on libssl.so.3 / libcrypto.so.3. We load them from memory (memfd)
// before civetweb starts. glibc's dlopen() returns an already loaded object whose
// SONAME equals the requested name, and dlsym() on it searches its dependencies, so
// civetweb gets OpenSSL 3 plus the renamed function from the libssl shim.
// tests/exporter/tls_test.cc serves HTTPS in-process: the crash or the start-up
// failure coming back fails it.

__asm__(
    ".pushsection .rodata\n"
    ".balign 16\n"
    ".global aee_libssl_shim_begin\n"
    "aee_libssl_shim_begin:\n"
    ".incbin \"" AEE_LIBSSL_SHIM_PATH "\"\n"
    ".global aee_libssl_shim_end\n"
    "aee_libssl_shim_end:\n"
    ".balign 16\n"
    ".global aee_libcrypto_shim_begin\n"
    "aee_libcrypto_shim_begin:\n"
    ".incbin \"" AEE_LIBCRYPTO_SHIM_PATH "\"\n"
    ".global aee_libcrypto_shim_end\n"
    "aee_libcrypto_shim_end:\n"
    ".popsection\n");

extern "C" const unsigned char aee_libssl_shim_begin[], aee_libssl_shim_end[];
extern "C" const unsigned char aee_libcrypto_shim_begin[], aee_libcrypto_shim_end[];

namespace aee {
namespace {

// Writes the image to a memfd and dlopen()s it; the fd stays open (a closed fd's
// number can be reused, and glibc matches a later "/proc/self/fd/N" by name).
bool LoadFromMemory(const char* name, const unsigned char* begin, const unsigned char* end, std::string* error) {
  int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) {
    *error = std::string("memfd_create: ") + std::strerror(errno);
    return false;
  }
  size_t size = static_cast<size_t>(end - begin);
  for (size_t off = 0; off < size;) {
    ssize_t n = write(fd, begin + off, size - off);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      *error = std::string("writing the TLS shim: ") + std::strerror(errno);
      close(fd);
      return false;
    }
    off += static_cast<size_t>(n);
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL) == nullptr) {
    const char* why = dlerror();
    *error = std::string("loading the OpenSSL 3 shim for civetweb: ") + (why != nullptr ? why : "dlopen failed");
    close(fd);
    return false;
  }
  return true;
}

}  // namespace

bool PrepareCivetwebTls(std::string* error) {
  static std::mutex mu;
  static bool loaded = false;
  std::lock_guard<std::mutex> lock(mu);
  if (loaded) return true;
  if (!LoadFromMemory("aee-libcrypto-shim", aee_libcrypto_shim_begin, aee_libcrypto_shim_end, error)) return false;
  if (!LoadFromMemory("aee-libssl-shim", aee_libssl_shim_begin, aee_libssl_shim_end, error)) return false;
  loaded = true;
  return true;
}

}  // namespace aee
