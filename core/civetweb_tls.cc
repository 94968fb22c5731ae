#include "core/civetweb_tls.h"

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
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

// One loaded configuration: its SSL_CTX (with certificate, key, CA, versions,
// suites) and what SSL_set_SSL_CTX does not carry over to a connection. Each has a
// session id context of its own: OpenSSL resumes a session (TLS 1.2 or 1.3, by id
// or ticket) only in the context it was made in, so after a reload every session
// made under the previous certificate or client CA ends in a full handshake, which
// checks a client certificate against the new CA.
struct ReloadableTls::Generation {
  SSL_CTX* ctx = nullptr;
  TlsServerConfig tls;
  std::string cipher_list;
  std::string groups;  // empty: the connection keeps OpenSSL's default
  unsigned char session_id_context[SSL_MAX_SID_CTX_LENGTH] = {0};
  ~Generation() { SSL_CTX_free(ctx); }  // connections still on it hold references
};

bool ReloadableTls::Load(const TlsServerConfig& tls, std::string* error) {
  auto gen = std::make_shared<Generation>();
  gen->ctx = SSL_CTX_new(TLS_server_method());
  if (gen->ctx == nullptr) {
    *error = "tls_server_config: " + OpenSslError();
    return false;
  }
  if (!ConfigureServerSslCtx(gen->ctx, tls, error)) return false;
  gen->tls = tls;
  gen->cipher_list = Tls12CipherList(tls);
  for (const auto& g : tls.curve_preferences) gen->groups += (gen->groups.empty() ? "" : ":") + g;
  if (RAND_bytes(gen->session_id_context, sizeof gen->session_id_context) != 1 ||
      SSL_CTX_set_session_id_context(gen->ctx, gen->session_id_context, sizeof gen->session_id_context) != 1) {
    *error = "tls_server_config: session id context: " + OpenSslError();
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(gen);
  return true;
}

std::shared_ptr<const ReloadableTls::Generation> ReloadableTls::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

bool ReloadableTls::Attach(SSL_CTX* civetweb_ctx, std::string* error) {
  std::shared_ptr<const Generation> gen = Current();
  if (!gen) {
    *error = "tls_server_config: no configuration loaded";
    return false;
  }
  // civetweb's own context also gets the configuration, should a connection ever
  // stay on it, except the curves: a connection starts from this context's groups,
  // which must stay OpenSSL's default for a reload that drops curve_preferences.
  TlsServerConfig base = gen->tls;
  base.curve_preferences.clear();
  if (!ConfigureServerSslCtx(civetweb_ctx, base, error)) return false;
  if (SSL_CTX_set_session_id_context(civetweb_ctx, gen->session_id_context, sizeof gen->session_id_context) != 1) {
    *error = "tls_server_config: session id context: " + OpenSslError();
    return false;
  }
  SSL_CTX_set_client_hello_cb(civetweb_ctx, &ReloadableTls::OnClientHello, this);
  // civetweb 1.15 installs a servername (SNI) callback before calling init_ssl; it
  // moves every connection back to civetweb's own context, undoing ours.
  // (It does so even for clients that send no server name.)
  SSL_CTX_callback_ctrl(civetweb_ctx, SSL_CTRL_SET_TLSEXT_SERVERNAME_CB, nullptr);
  return true;
}

// Runs first in the handshake, before OpenSSL picks the version, suite or session.
// SSL_set_SSL_CTX brings the certificate, key, client CA list and verify store;
// what SSL_new copied from civetweb's context (versions, verify mode, suites,
// groups, options, session id context) is set from the configuration here.
int ReloadableTls::OnClientHello(SSL* ssl, int* alert, void* arg) {
  std::shared_ptr<const Generation> gen = static_cast<ReloadableTls*>(arg)->Current();
  if (!gen) return SSL_CLIENT_HELLO_SUCCESS;
  const TlsServerConfig& tls = gen->tls;
  bool ok = SSL_set_SSL_CTX(ssl, gen->ctx) == gen->ctx && SSL_set_min_proto_version(ssl, tls.min_version) == 1 &&
            SSL_set_max_proto_version(ssl, tls.max_version) == 1 &&
            SSL_set_cipher_list(ssl, gen->cipher_list.c_str()) == 1 &&
            (gen->groups.empty() || SSL_set1_groups_list(ssl, gen->groups.c_str()) == 1) &&
            SSL_set_session_id_context(ssl, gen->session_id_context, sizeof gen->session_id_context) == 1;
  if (!ok) {
    ERR_clear_error();
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(gen->ctx), nullptr);
  if (tls.prefer_server_cipher_suites) {
    SSL_set_options(ssl, SSL_OP_CIPHER_SERVER_PREFERENCE);
  } else {
    SSL_clear_options(ssl, SSL_OP_CIPHER_SERVER_PREFERENCE);
  }
  SSL_set_options(ssl, SSL_OP_NO_RENEGOTIATION);
  return SSL_CLIENT_HELLO_SUCCESS;
}

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
