#pragma once
// Every event name and group name of the job-progress hub (spec sections 2 and 3), in
// this one file: the hub methods that join groups, the events the jobs layer's changes
// become, and the terminal clients all spell them from here.
#include <string>
#include <string_view>

namespace herald::api::names {

// Events (server -> client).
inline constexpr const char* kJobProgressUpdate = "JobProgressUpdate";
inline constexpr const char* kJobCompleted = "JobCompleted";
inline constexpr const char* kJobFailed = "JobFailed";
inline constexpr const char* kVideoProgressUpdate = "VideoProgressUpdate";
inline constexpr const char* kUserNotification = "UserNotification";
inline constexpr const char* kBroadcastNotification = "BroadcastNotification";
inline constexpr const char* kError = "Error";
// The dashboard's stream (group kDashboardGroup, admins only): every job's change, and
// the job counts about once a second while the connection watches.
inline constexpr const char* kDashboardJobUpdate = "DashboardJobUpdate";
inline constexpr const char* kDashboardStats = "DashboardStats";

// Every event with what it means, for clients that ask (connection-info).
struct EventDescription {
  const char* name;
  const char* meaning;
};
inline constexpr EventDescription kEvents[] = {
    {kJobProgressUpdate, "progress of a job (with its per-job sequence number)"},
    {kJobCompleted, "a job finished successfully"},
    {kJobFailed, "a job failed"},
    {kVideoProgressUpdate, "a video's stages and overall progress changed"},
    {kUserNotification, "a notification for the connected user"},
    {kBroadcastNotification, "a notification for every client"},
    {kError, "a hub call could not be served (code and message)"},
    {kDashboardJobUpdate,
     "dashboard stream (admins): any job changed; the job's REST shape plus statusChanged"},
    {kDashboardStats,
     "dashboard stream (admins): job counts by status, type and priority, about once a second"},
};

// Groups: a job's subscribers, a video's subscribers, and every connection of a user
// (joined on connect; users are targeted as this group).
inline std::string jobGroup(std::string_view jobId) { return "job-" + std::string(jobId); }
inline std::string videoGroup(std::string_view videoId) { return "video-" + std::string(videoId); }
inline std::string userGroup(std::string_view userId) { return "user-" + std::string(userId); }
// Every connection watching the jobs dashboard (SubscribeToDashboard).
inline constexpr const char* kDashboardGroup = "dashboard";

}  // namespace herald::api::names
