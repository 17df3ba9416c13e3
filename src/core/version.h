// version.h: the library version as a string, for the core (the C API exports the same).
#pragma once

#include <kvc/kvc.h>

#define KVC_STRINGIFY_INNER(x) #x
#define KVC_STRINGIFY(x) KVC_STRINGIFY_INNER(x)

namespace kvc {

// "MAJOR.MINOR.PATCH".
constexpr const char* kVersionString = KVC_STRINGIFY(KVC_VERSION_MAJOR) "." KVC_STRINGIFY(
    KVC_VERSION_MINOR) "." KVC_STRINGIFY(KVC_VERSION_PATCH);

}  // namespace kvc
