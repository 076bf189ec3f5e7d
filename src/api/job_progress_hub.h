#pragma once
// The `/hubs/job-progress` hub: SubscribeToJob, UnsubscribeFromJob, SubscribeToVideo,
// UnsubscribeFromVideo, GetJobProgress, GetVideoProgress (spec section 2).
#include "hub/hub_dispatcher.h"
#include "jobs/progress_service.h"

namespace herald::api {

void registerJobProgressHub(hub::HubDispatcher& dispatcher, jobs::ProgressService& service);

}  // namespace herald::api
