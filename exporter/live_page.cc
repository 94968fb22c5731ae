#include "exporter/live_page.h"

namespace aee {

// Generated from exporter/live_page.html by CMake (live_page_html.cc.in).
extern const char kLivePageHtml[];

HttpResponse LivePage() {
  HttpResponse r;
  r.content_type = "text/html; charset=utf-8";
  r.body = kLivePageHtml;
  // Everything the page needs is inline; it talks only to this origin.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                         "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                         "frame-ancestors 'none'");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  return r;
}

}  // namespace aee
