#include "hub/hub_dispatcher.h"

#include <cmath>

#include <spdlog/spdlog.h>

#include "auth/policy.h"
#include "core/strings.h"

namespace herald::hub {

namespace asio = boost::asio;
namespace json = boost::json;

void HubDispatcher::addMethod(const std::string& name, std::size_t minArgs, std::size_t maxArgs,
                              HubMethod method, auth::Access access) {
  methods_[core::toLower(name)] = Entry{minArgs, maxArgs, std::move(method), access};
}

std::optional<auth::Access> HubDispatcher::methodAccess(const std::string& name) const {
  auto it = methods_.find(core::toLower(name));
  if (it == methods_.end()) return std::nullopt;
  return it->second.access;
}

asio::awaitable<void> HubDispatcher::invoke(HubCallContext& context,
                                            const protocol::InvocationMessage& invocation,
                                            bool detailedErrors) const {
  const auto& target = invocation.target;
  protocol::CompletionMessage completion;
  completion.invocationId = invocation.invocationId.value_or("");
  std::string error;

  auto it = methods_.find(core::toLower(target));
  if (it == methods_.end()) {
    error = "Failed to invoke '" + target +
            "' due to an error on the server. HubException: Method does not exist.";
  } else if (invocation.arguments.size() < it->second.minArgs ||
             invocation.arguments.size() > it->second.maxArgs) {
    error = "Failed to invoke '" + target + "' due to an error on the server.";
    if (detailedErrors) {
      error +=
          " InvalidDataException: Invocation provides " +
          std::to_string(invocation.arguments.size()) + " argument(s) but target expects " +
          std::to_string(it->second.minArgs) +
          (it->second.maxArgs != it->second.minArgs ? " to " + std::to_string(it->second.maxArgs)
                                                    : std::string()) +
          ".";
    }
  } else if (enforceAccess_ && auth::decide(it->second.access, context.connection->principal()) !=
                                   auth::Decision::Allow) {
    error = "Failed to invoke '" + target + "' because user is unauthorized";
  } else if (!invocation.streamIds.empty()) {
    error = "An unexpected error occurred invoking '" + target + "' on the server.";
    if (detailedErrors) {
      error += " HubException: Client sent " + std::to_string(invocation.streamIds.size()) +
               " stream(s), Hub method expects 0.";
    }
  } else {
    try {
      completion.result = co_await it->second.method(context, invocation.arguments);
      completion.hasResult = true;  // void methods complete with result null, as .NET does
    } catch (const HubException& e) {
      error = "An unexpected error occurred invoking '" + target +
              "' on the server. HubException: " + e.what();
    } catch (const BindingError& e) {
      error = "Failed to invoke '" + target + "' due to an error on the server.";
      if (detailedErrors) error += std::string(" InvalidDataException: ") + e.what();
    } catch (const std::exception& e) {
      spdlog::error("hub method {} failed on connection {}: {}", target, context.connection->id(),
                    e.what());
      error = "An unexpected error occurred invoking '" + target + "' on the server.";
      if (detailedErrors) error += std::string(" Exception: ") + e.what();
    }
  }

  if (!error.empty()) {
    spdlog::debug("invocation {} of {} on {} failed: {}", completion.invocationId, target,
                  context.connection->id(), error);
    completion.error = error;
    completion.hasResult = false;
  }
  if (invocation.invocationId) context.connection->send(protocol::HubMessage(completion));
}

asio::awaitable<void> HubDispatcher::connected(HubCallContext& context) const {
  if (onConnected_) co_await onConnected_(context);
}

asio::awaitable<void> HubDispatcher::adopted(HubCallContext& context,
                                             const SessionState& state) const {
  if (onAdopted_) {
    co_await onAdopted_(context, state);
    co_return;
  }
  for (const auto& g : state.groups) context.lifetime.addToGroup(context.connection, g);
}

std::string HubDispatcher::stringArg(const json::array& args, std::size_t index) {
  const auto& v = args.at(index);
  if (v.is_string()) return std::string(v.as_string());
  throw BindingError("Error binding arguments. Argument " + std::to_string(index) +
                     " must be a string.");
}

std::optional<std::int64_t> HubDispatcher::optionalIntArg(const json::array& args,
                                                          std::size_t index) {
  if (index >= args.size() || args[index].is_null()) return std::nullopt;
  const auto& v = args[index];
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64()) return static_cast<std::int64_t>(v.as_uint64());
  if (v.is_double()) {
    double d = v.as_double();
    if (d >= -9.2e18 && d <= 9.2e18 && d == std::floor(d)) return static_cast<std::int64_t>(d);
  }
  throw BindingError("Error binding arguments. Argument " + std::to_string(index) +
                     " must be an integer.");
}

}  // namespace herald::hub
