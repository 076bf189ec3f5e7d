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

// Groups: a job's subscribers, a video's subscribers, and every connection of a user
// (joined on connect; users are targeted as this group).
inline std::string jobGroup(std::string_view jobId) { return "job-" + std::string(jobId); }
inline std::string videoGroup(std::string_view videoId) { return "video-" + std::string(videoId); }
inline std::string userGroup(std::string_view userId) { return "user-" + std::string(userId); }

}  // namespace herald::api::names
