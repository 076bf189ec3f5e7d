#pragma once
// What lets any node of a cluster serve any request of any connection with no sticky
// sessions (docs/deploy.md): the MACs made with the cluster secret (Cluster:Secret).
//
// - Connection tokens any node can check. A cluster node's negotiate answers a token that
//   carries the connection id, the negotiating node's URL (its owner), the negotiate version,
//   the stateful flag and an expiry, MACed with HMAC-SHA256. A node that does not hold the
//   connection verifies it and either creates the connection (a WebSocket) or forwards the
//   request to the owner (long polling, SSE, sends): the owner's address comes from this
//   MAC-checked token only, never from anything a client could forge. The MAC also covers
//   the negotiating user's id (not carried), so another user's request fails the check.
// - The forwarding guard: a forwarded request carries X-Herald-Forward, a MAC over its
//   method, target and time, so the owner serves it locally and never forwards it again;
//   a client cannot make a request look forwarded.
//
// Each purpose has its own key derived from the secret (HMAC(secret, label)), so a MAC of
// one kind is never accepted as the other. MACs are compared in constant time.
//
// Thread safety: immutable once setNodeUrl has run (before the server serves requests).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::transport {

// What a verified connection token says.
struct TokenClaims {
  std::string connectionId;  // the id inside (for negotiate version 0 the token is the id)
  std::string nodeUrl;       // the negotiating node: http://HOST:PORT
  int negotiateVersion = 1;
  bool statefulReconnect = false;
  std::int64_t expiresAt = 0;  // unix seconds: a node creates a connection from it until then
};

enum class ForwardGuard { Absent, Valid, Invalid };

class ClusterKeys {
 public:
  // Clocks of the nodes may differ this much (a forwarded request's time, a token's expiry).
  static constexpr std::int64_t kClockSkewSeconds = 30;
  static constexpr const char* kForwardHeader = "X-Herald-Forward";

  // `secret`: the decoded Cluster:Secret (32 bytes or more). `nodes`: Cluster:Nodes (empty:
  // any node URL a valid token names). `tokenLifetime`: how long after negotiate another
  // node may create the connection from its token (SignalR:DisconnectTimeout: the
  // negotiating node reaps it after that long too).
  ClusterKeys(std::string_view secret, std::string nodeId, std::vector<std::string> nodes,
              std::chrono::seconds tokenLifetime);

  // This node's URL as peers reach it; set once, after the listener is bound (the port may
  // have been 0).
  void setNodeUrl(std::string url) { nodeUrl_ = std::move(url); }
  const std::string& nodeUrl() const { return nodeUrl_; }
  const std::string& nodeId() const { return nodeId_; }

  // A token for a connection negotiated here by `userId` ("" when anonymous) at `now`.
  std::string issueToken(const std::string& connectionId, int negotiateVersion,
                         bool statefulReconnect, std::string_view userId, std::int64_t now) const;
  // The claims of a token whose MAC checks out for `userId`, or nullopt (malformed, forged,
  // another user's, another cluster's). Expiry is the caller's decision (expired()).
  std::optional<TokenClaims> verifyToken(std::string_view token, std::string_view userId) const;
  static bool expired(const TokenClaims& claims, std::int64_t now) {
    return now > claims.expiresAt + kClockSkewSeconds;
  }
  // Whether a request for a connection owned by `claims.nodeUrl` should go there: another
  // node than this one, and listed in Cluster:Nodes when that is set.
  bool forwardable(const TokenClaims& claims) const;

  // The X-Herald-Forward value for a request `method target` forwarded at `now`.
  std::string forwardHeader(std::string_view method, std::string_view target,
                            std::int64_t now) const;
  // Checks a received X-Herald-Forward value (nullopt: the header is absent).
  ForwardGuard checkForwardHeader(std::optional<std::string_view> value, std::string_view method,
                                  std::string_view target, std::int64_t now) const;

  static std::int64_t unixNow();

 private:
  std::string tokenKey_;
  std::string forwardKey_;
  std::string nodeId_;
  std::string nodeUrl_;
  std::vector<std::string> nodes_;
  std::int64_t tokenLifetime_;
};

}  // namespace herald::transport
