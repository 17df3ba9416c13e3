// dtype.cpp: names and validation of element types.
#include "core/dtype.h"

#include "core/error.h"

namespace kvc {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "float32";
    case DType::F16:
      return "float16";
    case DType::BF16:
      return "bfloat16";
  }
  return "unknown";
}

DType dtype_from_c(kvc_dtype t, const char* field) {
  if (t == KVC_DTYPE_F32 || t == KVC_DTYPE_F16 || t == KVC_DTYPE_BF16) return static_cast<DType>(t);
  throw Error(KVC_ERR_INVALID_ARGUMENT,
              std::string(field) + " " + std::to_string(t) +
                  " is not KVC_DTYPE_F32, KVC_DTYPE_F16 or KVC_DTYPE_BF16");
}

}  // namespace kvc
