#pragma once
// Hub method table and invocation: looks methods up case-insensitively (as ASP.NET
// Core does), checks the argument count, runs the method and answers with exactly one
// Completion when the caller gave an invocation id (none for a `send`).
//
// Thread safety: methods are registered at start-up; afterwards the table is read-only
// and invoke() may run on any connection's executor.
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include "auth/access.h"
#include "backplane/backplane.h"
#include "hub/hub_connection.h"
#include "hub/hub_lifetime_manager.h"
#include "hub/session_mirror.h"

namespace herald::hub {

// The app's deliberate, client-visible error (ASP.NET's HubException): its message is
// always shown to the caller.
class HubException : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An argument had the wrong type or count: "Failed to invoke '<M>' due to an error...".
class BindingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HubCallContext {
  HubConnectionPtr connection;
  HubLifetimeManager& lifetime;
  backplane::Backplane& backplane;
};

using HubMethod = std::function<boost::asio::awaitable<boost::json::value>(
    HubCallContext&, const boost::json::array&)>;
using ConnectedHook = std::function<boost::asio::awaitable<void>(HubCallContext&)>;
// An adopted connection (hub/session_mirror.h) rejoins its groups; the app also catches
// each group up on what was published while no node held the connection.
using AdoptedHook =
    std::function<boost::asio::awaitable<void>(HubCallContext&, const SessionState&)>;

class HubDispatcher {
 public:
  // `access`: who may call it, as the REST routes declare theirs (auth/access.h);
  // checked before the method runs when enforceAccess(true) (AppSettings:EnableAuth).
  void addMethod(const std::string& name, std::size_t minArgs, std::size_t maxArgs,
                 HubMethod method, auth::Access access = auth::Access::Anonymous);
  // A method's declared access (case-insensitive name); nullopt for an unknown method.
  std::optional<auth::Access> methodAccess(const std::string& name) const;
  void onConnected(ConnectedHook hook) { onConnected_ = std::move(hook); }
  void onAdopted(AdoptedHook hook) { onAdopted_ = std::move(hook); }
  // With authentication on: a caller without the method's role gets a completion error
  // ("... because user is unauthorized", ASP.NET Core's words) and the method never runs.
  void enforceAccess(bool on) { enforceAccess_ = on; }
  bool accessEnforced() const { return enforceAccess_; }

  // Runs the invocation and queues its Completion (if it has an id) on the connection.
  boost::asio::awaitable<void> invoke(HubCallContext& context,
                                      const protocol::InvocationMessage& invocation,
                                      bool detailedErrors) const;
  boost::asio::awaitable<void> connected(HubCallContext& context) const;
  // Without a hook: rejoins the mirrored groups, nothing more.
  boost::asio::awaitable<void> adopted(HubCallContext& context, const SessionState& state) const;

  // Argument helpers for methods: throw BindingError on a type mismatch.
  static std::string stringArg(const boost::json::array& args, std::size_t index);
  static std::optional<std::int64_t> optionalIntArg(const boost::json::array& args,
                                                    std::size_t index);

 private:
  struct Entry {
    std::size_t minArgs;
    std::size_t maxArgs;
    HubMethod method;
    auth::Access access = auth::Access::Anonymous;
  };
  std::unordered_map<std::string, Entry> methods_;  // keyed by lower-case name
  ConnectedHook onConnected_;
  AdoptedHook onAdopted_;
  bool enforceAccess_ = false;
};

}  // namespace herald::hub
