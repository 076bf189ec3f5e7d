#include <gtest/gtest.h>

#include "auth/access.h"
#include "auth/authenticator.h"

using namespace herald::auth;

TEST(Principal, AnonymousHasNoUserAndNoRoles) {
  auto p = Principal::anonymous();
  EXPECT_TRUE(p.userId.empty());
  EXPECT_FALSE(p.authenticated);
  EXPECT_FALSE(p.hasRole("admin"));
  EXPECT_FALSE(p.isAdmin());
}

TEST(Principal, RolesCompareExactly) {
  Principal p{"u1", {"worker", "admin"}, true};
  EXPECT_TRUE(p.hasRole("worker"));
  EXPECT_TRUE(p.isAdmin());
  EXPECT_FALSE(p.hasRole("Worker"));  // as ASP.NET Core's IsInRole
  Principal w{"u2", {"worker"}, true};
  EXPECT_FALSE(w.isAdmin());
}

TEST(AnonymousAuthenticator, ReadsNothingFromTheRequest) {
  herald::core::HttpRequest request;
  request.headers["authorization"] = "Bearer abc.def.ghi";
  request.query.emplace_back("access_token", "abc.def.ghi");
  auto p = AnonymousAuthenticator{}.authenticate(request);
  EXPECT_FALSE(p.authenticated);
  EXPECT_TRUE(p.userId.empty());
  EXPECT_TRUE(p.roles.empty());
}

TEST(Access, NamesEveryPolicy) {
  EXPECT_EQ(toString(Access::Anonymous), "Anonymous");
  EXPECT_EQ(toString(Access::Owner), "Owner");
  EXPECT_EQ(toString(Access::Worker), "Worker");
  EXPECT_EQ(toString(Access::Admin), "Admin");
  EXPECT_EQ(toString(Access::Authenticated), "Authenticated");
}
