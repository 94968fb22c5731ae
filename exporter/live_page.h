#pragma once

#include "core/http_server.h"

namespace aee {

/// The /live page (exporter/live_page.html, embedded at build time): one offline
/// HTML file that watches the live view's WebSocket.
HttpResponse LivePage();

}  // namespace aee
