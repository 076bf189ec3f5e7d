#include "api/job_progress_hub.h"

#include <spdlog/spdlog.h>

#include "model/json_mapping.h"

namespace herald::api {

namespace asio = boost::asio;
namespace json = boost::json;
using hub::HubCallContext;
using hub::HubDispatcher;

namespace {

// Ids are opaque but bounded: nothing longer is ever issued, so nothing longer exists.
constexpr std::size_t kMaxIdLength = 128;

protocol::HubMessage event(std::string target, json::value payload) {
  protocol::InvocationMessage m;
  m.target = std::move(target);
  m.arguments.push_back(std::move(payload));
  return m;
}

void sendError(const hub::HubConnectionPtr& c, std::string_view code, std::string message) {
  json::object o;
  o["code"] = code;
  o["message"] = std::move(message);
  c->send(event("Error", std::move(o)));
}

std::string idArg(const json::array& args) {
  auto id = HubDispatcher::stringArg(args, 0);
  return id;
}

// Runs a hub method body; an unexpected fault becomes an Error INTERNAL_ERROR event and a
// null result, never a broken connection.
template <class F>
asio::awaitable<json::value> guarded(HubCallContext& ctx, const char* method, F body) {
  try {
    co_return co_await body();
  } catch (const hub::BindingError&) {
    throw;
  } catch (const std::exception& e) {
    spdlog::error("{} on connection {} failed: {}", method, ctx.connection->id(), e.what());
    sendError(ctx.connection, "INTERNAL_ERROR", "An internal error occurred");
    co_return nullptr;
  }
}

}  // namespace

void registerJobProgressHub(HubDispatcher& d, jobs::ProgressService& service) {
  d.addMethod(
      "SubscribeToJob", 1, 2,
      [&service](HubCallContext& ctx, const json::array& args) -> asio::awaitable<json::value> {
        auto jobId = idArg(args);
        auto after = HubDispatcher::optionalIntArg(args, 1);
        return guarded(ctx, "SubscribeToJob", [&service, &ctx, jobId, after]() {
          // Join, replay and snapshot on the storage executor, where updates are
          // recorded and published: nothing can slip between them.
          return service.onStore([&ctx, jobId, after](storage::Store& store) -> json::value {
            auto job = jobId.size() <= kMaxIdLength ? store.getJob(jobId) : std::nullopt;
            if (!job) {
              sendError(ctx.connection, "NOT_FOUND", "Job " + jobId + " not found");
              return nullptr;
            }
            ctx.lifetime.addToGroup(ctx.connection, "job-" + jobId);
            if (after) {
              ctx.connection->resetSequence(jobId, *after);
              for (const auto& e : store.progressHistory(jobId, *after, 1'000'000)) {
                hub::SerializedMessage m(
                    event("JobProgressUpdate", model::jobProgressUpdate(*job, e)),
                    hub::OrderKey{jobId, e.sequence});
                ctx.connection->send(m);
              }
            }
            hub::SerializedMessage snapshot(
                event("JobProgressUpdate", model::jobProgressUpdate(*job)),
                hub::OrderKey{jobId, job->sequence});
            // With a replay the current state is its last entry already.
            ctx.connection->send(snapshot, /*snapshot=*/!after);
            return nullptr;
          });
        });
      });

  d.addMethod("UnsubscribeFromJob", 1, 1,
              [](HubCallContext& ctx, const json::array& args) -> asio::awaitable<json::value> {
                ctx.lifetime.removeFromGroup(ctx.connection, "job-" + idArg(args));
                co_return nullptr;
              });

  d.addMethod(
      "SubscribeToVideo", 1, 1,
      [&service](HubCallContext& ctx, const json::array& args) -> asio::awaitable<json::value> {
        auto videoId = idArg(args);
        return guarded(ctx, "SubscribeToVideo", [&service, &ctx, videoId]() {
          return service.onStore([&ctx, videoId](storage::Store& store) -> json::value {
            auto video = videoId.size() <= kMaxIdLength ? store.getVideo(videoId) : std::nullopt;
            if (!video) {
              sendError(ctx.connection, "NOT_FOUND", "Video " + videoId + " not found");
              return nullptr;
            }
            ctx.lifetime.addToGroup(ctx.connection, "video-" + videoId);
            ctx.connection->send(event("VideoProgressUpdate", model::videoProgressUpdate(*video)));
            return nullptr;
          });
        });
      });

  d.addMethod("UnsubscribeFromVideo", 1, 1,
              [](HubCallContext& ctx, const json::array& args) -> asio::awaitable<json::value> {
                ctx.lifetime.removeFromGroup(ctx.connection, "video-" + idArg(args));
                co_return nullptr;
              });

  d.addMethod(
      "GetJobProgress", 1, 1,
      [&service](HubCallContext& ctx, const json::array& args) -> asio::awaitable<json::value> {
        auto jobId = idArg(args);
        return guarded(ctx, "GetJobProgress", [&service, &ctx, jobId]() {
          return service.onStore([&ctx, jobId](storage::Store& store) -> json::value {
            auto job = jobId.size() <= kMaxIdLength ? store.getJob(jobId) : std::nullopt;
            if (!job) {
              sendError(ctx.connection, "NOT_FOUND", "Job " + jobId + " not found");
              return nullptr;
            }
            auto payload = model::jobProgressUpdate(*job);
            ctx.connection->send(event("JobProgressUpdate", payload));
            return payload;
          });
        });
      });

  d.addMethod(
      "GetVideoProgress", 1, 1,
      [&service](HubCallContext& ctx, const json::array& args) -> asio::awaitable<json::value> {
        auto videoId = idArg(args);
        return guarded(ctx, "GetVideoProgress", [&service, &ctx, videoId]() {
          return service.onStore([&ctx, videoId](storage::Store& store) -> json::value {
            auto video = videoId.size() <= kMaxIdLength ? store.getVideo(videoId) : std::nullopt;
            if (!video) {
              sendError(ctx.connection, "NOT_FOUND", "Video " + videoId + " not found");
              return nullptr;
            }
            auto payload = model::videoProgressUpdate(*video);
            ctx.connection->send(event("VideoProgressUpdate", payload));
            return payload;
          });
        });
      });
}

}  // namespace herald::api
