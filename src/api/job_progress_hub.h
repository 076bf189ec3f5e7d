#pragma once
// The `/hubs/job-progress` hub: SubscribeToJob, UnsubscribeFromJob, SubscribeToVideo,
// UnsubscribeFromVideo, GetJobProgress, GetVideoProgress (spec section 2), and the jobs
// dashboard's stream: SubscribeToDashboard (returns a snapshot; then DashboardJobUpdate
// for every job change and DashboardStats about once a second), UnsubscribeFromDashboard.
#include "hub/hub_dispatcher.h"
#include "jobs/progress_service.h"

namespace herald::api {

void registerJobProgressHub(hub::HubDispatcher& dispatcher, jobs::ProgressService& service);

}  // namespace herald::api
