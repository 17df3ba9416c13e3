// adapter_handle.h: struct kvc_adapter, the C handle around one kvc::adapters::Adapter.
#pragma once

#include <kvc/kvc_tools.h>

#include "adapters/adapter.h"

struct kvc_adapter {
  kvc::adapters::Adapter adapter;
  bool is_builtin = false;
};
