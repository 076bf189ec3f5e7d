#include "auth/authenticator.h"

namespace herald::auth {

Principal AnonymousAuthenticator::authenticate(const core::HttpRequest&) const {
  return Principal::anonymous();
}

}  // namespace herald::auth
