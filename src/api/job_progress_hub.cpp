#include "api/job_progress_hub.h"

#include <atomic>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "api/dashboard.h"
#include "api/hub_names.h"
#include "metrics/herald_metrics.h"
#include "auth/policy.h"
#include "model/json_mapping.h"

namespace herald::api {

namespace asio = boost::asio;
namespace json = boost::json;
using hub::HubCallContext;
using hub::HubDispatcher;

namespace {

// Ids are opaque but bounded: nothing longer is ever issued, so nothing longer exists.
constexpr std::size_t kMaxIdLength = 128;
// A replay reads the history this many entries at a time, and whenever the connection's
// queue passes half its limit it waits for the writer to take it below again: a
// subscriber replaying a million updates holds one page in memory, not a million, and is
// never closed as a slow consumer by its own replay.
constexpr int kReplayPage = 500;
constexpr auto kReplayPollInterval = std::chrono::milliseconds(5);

protocol::HubMessage event(const char* target, json::value payload) {
  protocol::InvocationMessage m;
  m.target = target;
  m.arguments.push_back(std::move(payload));
  return m;
}

void sendError(const hub::HubConnectionPtr& c, std::string_view code, std::string_view message) {
  json::object o;
  o["code"] = code;
  o["message"] = message;
  c->send(event(names::kError, std::move(o)));
}

std::string idArg(const json::array& args) { return HubDispatcher::stringArg(args, 0); }

// Runs a hub method body; an unexpected fault becomes an Error INTERNAL_ERROR event and a
// null result, never a broken connection.
template <class F>
asio::awaitable<json::value> guarded(HubCallContext& ctx, const char* method, F body) {
  try {
    co_return co_await body();
  } catch (const hub::BindingError&) {
    throw;
  } catch (const hub::HubException&) {
    throw;  // deliberate (a limit): the caller's completion error
  } catch (const std::exception& e) {
    spdlog::error("{} on connection {} failed: {}", method, ctx.connection->id(), e.what());
    sendError(ctx.connection, "INTERNAL_ERROR", "An internal error occurred");
    co_return nullptr;
  }
}

// Joins `group`, or refuses the subscription when the connection is in
// Limits:MaxGroupsPerConnection groups already: a completion error, and nothing joined.
void join(HubCallContext& ctx, const std::string& group) {
  if (ctx.lifetime.addToGroup(ctx.connection, group)) return;
  metrics::rejected("limit_groups_per_connection");
  throw hub::HubException(
      "Too many subscriptions: this connection is in the most groups allowed "
      "(Limits:MaxGroupsPerConnection). Unsubscribe from some first.");
}

// Waits until the connection's writer has taken its queue below half the limit. False
// when the connection is closing (the replay stops).
asio::awaitable<bool> drained(const hub::HubConnectionPtr& c) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!c->closing()) {
    if (c->queuedBytes() <= c->maxQueueBytes() / 2) co_return true;
    timer.expires_after(kReplayPollInterval);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return false;
}

// What a caller asks for by id.
enum class Resource { Job, Video };

// The answer to an id the caller may not see, exactly that of an unknown one (an Error
// event NOT_FOUND; the method returns null): existence does not leak.
void sendNotFound(const hub::HubConnectionPtr& c, Resource resource, const std::string& id) {
  sendError(c, "NOT_FOUND",
            std::string(resource == Resource::Job ? "Job " : "Video ") + id + " not found");
}

// Whether the caller may see `found`, a job or video read by id (nullopt: none such):
// auth::maySee of its owner.
template <class T>
bool visible(const HubCallContext& ctx, bool enforced, const std::optional<T>& found) {
  return found && auth::maySee(enforced, ctx.connection->principal(), found->userId);
}

// Whether the connection may watch the job or video `id`, checked before the group is
// joined, so not a single event of another user's job reaches it. An id longer than any
// issued is unknown. Without authentication (or for an admin) nothing is read.
asio::awaitable<bool> mayWatch(jobs::ProgressService& service, HubCallContext& ctx, bool enforced,
                               Resource resource, std::string id) {
  if (id.size() > kMaxIdLength) co_return false;
  const auto& principal = ctx.connection->principal();
  if (!enforced || principal.isAdmin()) co_return true;
  auto reading = service.onStore([resource, id](storage::Store& store) {
    auto owner = [](const auto& found) {
      return found ? std::optional<std::string>(found->userId) : std::nullopt;
    };
    return resource == Resource::Job ? owner(store.getJob(id)) : owner(store.getVideo(id));
  });
  const auto owner = co_await std::move(reading);
  co_return owner.has_value() && auth::maySee(enforced, principal, *owner);
}

// Waits until this node's subscription to `group` is in effect on the backplane (with
// Redis: its SUBSCRIBE confirmed), so that a read made after it cannot miss an update
// another node publishes meanwhile. In-process it is in effect at once.
asio::awaitable<void> subscribed(HubCallContext& ctx, const std::string& group) {
  auto executor = co_await asio::this_coro::executor;
  struct State {
    explicit State(const asio::any_io_executor& e)
        : timer(e, asio::steady_timer::time_point::max()) {}
    asio::steady_timer timer;
    bool done = false;               // on `executor` only
    std::atomic<bool> fired{false};  // set by whichever thread calls back
  };
  auto state = std::make_shared<State>(executor);
  ctx.backplane.whenSubscribed(group, [state, executor] {
    state->fired = true;
    asio::post(executor, [state] {
      state->done = true;
      state->timer.cancel();
    });
  });
  // Called back before returning (the in-process backplane): nothing to wait for. Else
  // the posted cancel runs on this connection's thread, after the wait below has begun.
  if (state->fired || state->done) co_return;
  co_await state->timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

// After the caller joined the job's group (and began a replay when `after` is set):
// sends the job's history after `after` (SendMode::Replay), then its current state, and
// releases the live updates held meanwhile. With `announceEnd` (adoption), a job that
// ended after `after` also gets its JobCompleted/JobFailed, which the history does not
// hold. False when the job does not exist.
asio::awaitable<bool> catchUp(jobs::ProgressService& service, const hub::HubConnectionPtr& c,
                              const std::string& jobId, std::optional<std::int64_t> after,
                              bool announceEnd = false) {
  struct EndReplay {  // live updates held during the replay are released on every path
    const hub::HubConnectionPtr& c;
    const std::string& jobId;
    bool active;
    ~EndReplay() {
      if (active) c->endReplay(jobId);
    }
  } endReplay{c, jobId, after.has_value()};

  auto reading = service.onStore([jobId](storage::Store& store) { return store.getJob(jobId); });
  auto job = co_await std::move(reading);
  if (!job) co_return false;
  if (after) {
    auto cursor = *after;
    while (true) {
      auto paging = service.onStore([jobId, cursor](storage::Store& store) {
        return store.progressHistory(jobId, cursor, kReplayPage);
      });
      auto page = co_await std::move(paging);
      for (const auto& e : page) {
        hub::SerializedMessage m(
            event(names::kJobProgressUpdate, model::jobProgressUpdate(*job, e)),
            hub::OrderKey{jobId, e.sequence});
        c->send(m, hub::SendMode::Replay);
        if (c->queuedBytes() > c->maxQueueBytes() / 2) {
          auto waiting = drained(c);
          if (!co_await std::move(waiting)) co_return true;
        }
      }
      if (page.size() < static_cast<std::size_t>(kReplayPage)) break;
      cursor = page.back().sequence;
    }
  }
  // The current state; dropped when the replay or a live update already gave it.
  hub::SerializedMessage snapshot(event(names::kJobProgressUpdate, model::jobProgressUpdate(*job)),
                                  hub::OrderKey{jobId, job->sequence});
  c->send(snapshot, after ? hub::SendMode::Replay : hub::SendMode::Live);
  if (announceEnd && after && job->sequence > *after) {
    if (job->status == model::JobStatus::Completed) {
      c->send(event(names::kJobCompleted, model::jobCompleted(*job)));
    } else if (job->status == model::JobStatus::Failed) {
      c->send(event(names::kJobFailed, model::jobFailed(*job)));
    }
  }
  co_return true;
}

asio::awaitable<json::value> subscribeToJob(jobs::ProgressService& service, HubCallContext& ctx,
                                            std::string jobId, std::optional<std::int64_t> after,
                                            bool enforced) {
  const auto& c = ctx.connection;
  auto checking = mayWatch(service, ctx, enforced, Resource::Job, jobId);
  if (!co_await std::move(checking)) {
    sendNotFound(c, Resource::Job, jobId);
    co_return nullptr;
  }
  // Join first, read after: every update published from now on, on any node, reaches
  // this connection, so none can fall between the read and the join. The connection
  // drops what it has already been given (per-job sequence), so overlaps are harmless.
  if (after) {
    c->beginReplay(jobId, *after);
  } else {
    c->restartSequence(jobId);
  }
  const auto group = names::jobGroup(jobId);
  try {
    join(ctx, group);
  } catch (const hub::HubException&) {
    if (after) c->endReplay(jobId);
    throw;
  }
  // With Redis, the node's subscription to the group is in effect before the read.
  auto inEffect = subscribed(ctx, group);
  co_await std::move(inEffect);
  auto catching = catchUp(service, c, jobId, after);
  if (!co_await std::move(catching)) {
    ctx.lifetime.removeFromGroup(c, group);
    sendNotFound(c, Resource::Job, jobId);
  }
  co_return nullptr;
}

// An adopted connection (hub/session_mirror.h) catches each of its jobs up, one after
// the other: whatever was published after the last update its previous node numbered.
asio::awaitable<void> catchUpAdopted(
    jobs::ProgressService& service, hub::HubConnectionPtr c,
    std::vector<std::pair<std::string, std::optional<std::int64_t>>> jobs) {
  for (const auto& [jobId, after] : jobs) {
    if (c->closing()) {
      if (after) c->endReplay(jobId);
      continue;
    }
    auto catching = catchUp(service, c, jobId, after, true);
    co_await std::move(catching);
  }
}

asio::awaitable<json::value> subscribeToVideo(jobs::ProgressService& service, HubCallContext& ctx,
                                              std::string videoId, bool enforced) {
  const auto& c = ctx.connection;
  auto checking = mayWatch(service, ctx, enforced, Resource::Video, videoId);
  if (!co_await std::move(checking)) {
    sendNotFound(c, Resource::Video, videoId);
    co_return nullptr;
  }
  const auto group = names::videoGroup(videoId);
  join(ctx, group);  // join first, as for jobs
  auto inEffect = subscribed(ctx, group);
  co_await std::move(inEffect);
  auto reading =
      service.onStore([videoId](storage::Store& store) { return store.getVideo(videoId); });
  auto video = co_await std::move(reading);
  if (!video) {
    ctx.lifetime.removeFromGroup(c, group);
    sendNotFound(c, Resource::Video, videoId);
    co_return nullptr;
  }
  c->send(event(names::kVideoProgressUpdate, model::videoProgressUpdate(*video)));
  co_return nullptr;
}

// The dashboard's counts are pushed to each watching connection this often: a page's
// counters and queues move with the jobs without a store query per job change, and a
// store query a second per admin viewer costs the store next to nothing.
constexpr auto kDashboardStatsInterval = std::chrono::seconds(1);

// Sends DashboardStats to one connection every kDashboardStatsInterval for as long as it
// is in the dashboard group. It holds the connection weakly: a closed connection is
// released at once, and the loop ends at its next tick.
asio::awaitable<void> dashboardStatsLoop(jobs::ProgressService& service,
                                         std::weak_ptr<hub::HubConnection> weak) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(kDashboardStatsInterval);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    {
      auto c = weak.lock();
      if (!c || c->closing() || !c->groups().count(names::kDashboardGroup)) co_return;
    }
    auto reading = service.onStore([&service](storage::Store& store) {
      return dashboardSummary(store.countJobs(), service.nowMillis());
    });
    auto summary = co_await std::move(reading);
    auto c = weak.lock();
    if (!c) co_return;
    c->send(event(names::kDashboardStats, std::move(summary)));
  }
}

asio::awaitable<json::value> subscribeToDashboard(jobs::ProgressService& service,
                                                  HubCallContext& ctx) {
  const auto& c = ctx.connection;
  // Join first, as for jobs: a change published while the snapshot is read still
  // arrives (the page keeps the newer of the two by sequence).
  const bool watching = c->groups().count(names::kDashboardGroup) != 0;
  join(ctx, names::kDashboardGroup);
  auto reading = service.onStore(
      [&service](storage::Store& store) { return dashboardSnapshot(store, service.nowMillis()); });
  auto snapshot = co_await std::move(reading);
  if (!watching) {
    // Separate statements: GCC 12 destroys the temporaries of a full-expression that
    // also contains a co_await twice (the handler's captured id was freed twice).
    auto executor = co_await asio::this_coro::executor;
    auto logStop = [id = c->id()](const std::exception_ptr& e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::warn("dashboard stats for connection {} stopped: {}", id, ex.what());
      }
    };
    asio::co_spawn(executor, dashboardStatsLoop(service, std::weak_ptr<hub::HubConnection>(c)),
                   std::move(logStop));
  }
  co_return json::value(std::move(snapshot));
}

// The current state of the job or video `id` as its update's payload, when the caller may
// see it (runs on the store).
std::optional<json::value> currentState(storage::Store& store, const HubCallContext& ctx,
                                        bool enforced, Resource resource, const std::string& id) {
  if (id.size() > kMaxIdLength) return std::nullopt;
  if (resource == Resource::Job) {
    auto job = store.getJob(id);
    if (!visible(ctx, enforced, job)) return std::nullopt;
    return json::value(model::jobProgressUpdate(*job));
  }
  auto video = store.getVideo(id);
  if (!visible(ctx, enforced, video)) return std::nullopt;
  return json::value(model::videoProgressUpdate(*video));
}

// GetJobProgress and GetVideoProgress: the current state of a job or video the caller may
// see, sent as its update event and returned; otherwise NOT_FOUND and null.
auto getProgress(jobs::ProgressService& service, const HubDispatcher* dispatcher, Resource resource,
                 const char* method) {
  return [&service, dispatcher, resource, method](HubCallContext& ctx, const json::array& args) {
    auto id = idArg(args);
    const bool enforced = dispatcher->accessEnforced();
    return guarded(ctx, method, [&service, &ctx, id, enforced, resource]() {
      return service.onStore([&ctx, id, enforced, resource](storage::Store& store) -> json::value {
        auto payload = currentState(store, ctx, enforced, resource, id);
        if (!payload) {
          sendNotFound(ctx.connection, resource, id);
          return nullptr;
        }
        ctx.connection->send(event(
            resource == Resource::Job ? names::kJobProgressUpdate : names::kVideoProgressUpdate,
            *payload));
        return std::move(*payload);
      });
    });
  };
}

}  // namespace

void registerJobProgressHub(HubDispatcher& d, jobs::ProgressService& service) {
  // OnConnected: a connection whose principal names a user hears that user's events.
  d.onConnected([](HubCallContext& ctx) -> asio::awaitable<void> {
    if (!ctx.connection->userId().empty()) {
      ctx.lifetime.addToGroup(ctx.connection, names::userGroup(ctx.connection->userId()));
    }
    co_return;
  });

  // Adoption: the connection rejoins the groups its previous node mirrored. Each job
  // group is joined with its replay begun at the last update numbered there, then caught
  // up from the store after the socket starts (Sequence and the mirrored frames go first).
  d.onAdopted(
      [&service](HubCallContext& ctx, const hub::SessionState& state) -> asio::awaitable<void> {
        const auto& c = ctx.connection;
        std::vector<std::pair<std::string, std::optional<std::int64_t>>> jobs;
        constexpr std::string_view kJobPrefix = "job-";  // names::jobGroup
        for (const auto& g : state.groups) {
          if (g.rfind(kJobPrefix, 0) == 0) {
            auto jobId = g.substr(kJobPrefix.size());
            std::optional<std::int64_t> after;
            if (auto mark = state.jobMarks.find(jobId); mark != state.jobMarks.end()) {
              after = mark->second;
              c->beginReplay(jobId, *after);
            } else {
              c->restartSequence(jobId);  // nothing of it was numbered: a fresh subscription
            }
            jobs.emplace_back(std::move(jobId), after);
          }
          ctx.lifetime.addToGroup(c, g);
        }
        auto executor = co_await asio::this_coro::executor;
        auto logStop = [id = c->id()](const std::exception_ptr& e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            spdlog::warn("connection {}: after its adoption: {}", id, ex.what());
          }
        };
        if (state.groups.count(names::kDashboardGroup)) {
          // The counts the dashboard gets every second come from a loop of the node serving it.
          asio::co_spawn(
              executor, dashboardStatsLoop(service, std::weak_ptr<hub::HubConnection>(c)), logStop);
        }
        if (jobs.empty()) co_return;
        asio::co_spawn(executor, catchUpAdopted(service, c, std::move(jobs)), std::move(logStop));
      });

  // Read at each call: the server turns enforcement on with AppSettings:EnableAuth.
  const auto* dispatcher = &d;
  d.addMethod("SubscribeToJob", 1, 2,
              [&service, dispatcher](HubCallContext& ctx, const json::array& args) {
                auto jobId = idArg(args);
                auto after = HubDispatcher::optionalIntArg(args, 1);
                const bool enforced = dispatcher->accessEnforced();
                return guarded(ctx, "SubscribeToJob", [&service, &ctx, jobId, after, enforced]() {
                  return subscribeToJob(service, ctx, jobId, after, enforced);
                });
              });

  d.addMethod("UnsubscribeFromJob", 1, 1,
              [](HubCallContext& ctx, const json::array& args) -> asio::awaitable<json::value> {
                ctx.lifetime.removeFromGroup(ctx.connection, names::jobGroup(idArg(args)));
                co_return nullptr;
              });

  d.addMethod("SubscribeToVideo", 1, 1,
              [&service, dispatcher](HubCallContext& ctx, const json::array& args) {
                auto videoId = idArg(args);
                const bool enforced = dispatcher->accessEnforced();
                return guarded(ctx, "SubscribeToVideo", [&service, &ctx, videoId, enforced]() {
                  return subscribeToVideo(service, ctx, videoId, enforced);
                });
              });

  d.addMethod("UnsubscribeFromVideo", 1, 1,
              [](HubCallContext& ctx, const json::array& args) -> asio::awaitable<json::value> {
                ctx.lifetime.removeFromGroup(ctx.connection, names::videoGroup(idArg(args)));
                co_return nullptr;
              });

  // The jobs dashboard's stream: every job's changes (DashboardJobUpdate) and the
  // counts (DashboardStats). Admins only with authentication (the dispatcher checks).
  d.addMethod(
      "SubscribeToDashboard", 0, 0,
      [&service](HubCallContext& ctx, const json::array&) {
        return guarded(ctx, "SubscribeToDashboard",
                       [&service, &ctx]() { return subscribeToDashboard(service, ctx); });
      },
      auth::Access::Admin);

  d.addMethod(
      "UnsubscribeFromDashboard", 0, 0,
      [](HubCallContext& ctx, const json::array&) -> asio::awaitable<json::value> {
        ctx.lifetime.removeFromGroup(ctx.connection, names::kDashboardGroup);
        co_return nullptr;
      },
      auth::Access::Admin);

  d.addMethod("GetJobProgress", 1, 1,
              getProgress(service, dispatcher, Resource::Job, "GetJobProgress"));
  d.addMethod("GetVideoProgress", 1, 1,
              getProgress(service, dispatcher, Resource::Video, "GetVideoProgress"));
}

}  // namespace herald::api
