#pragma once
// One HTTP request as every handler sees it: the parsed request and the principal behind
// it. Built once per request by http/http_server.cpp (the Authenticator fills the
// principal right after parsing); REST handlers and negotiate read it, never re-parse
// credentials.
//
// Thread safety: a value owned by the request's session coroutine; handlers get a const
// reference valid until they complete.
#include "auth/principal.h"
#include "core/http_types.h"

namespace herald::auth {

struct RequestContext {
  core::HttpRequest request;
  Principal principal;
};

}  // namespace herald::auth
