// stats_handle.h: struct kvc_stats, the C handle around kvc::ModelStats.
#pragma once

#include <kvc/kvc_tools.h>

#include "metrics/model_stats.h"

struct kvc_stats {
  kvc::ModelStats stats;
};
