// alloc_counter.cpp: replaces every global operator new/delete form with a counting allocator
// that keeps each block's size in a header and can fail the Nth allocation.
#include "reliability/alloc_counter.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace kvc_alloc {
namespace {

// Each block starts with a header of kHeader bytes (enough for any alignment up to 16) holding
// its size and whether it was counted; bigger alignments put the header just before the block.
constexpr size_t kHeader = 16;
struct Header {
  uint64_t size;
  uint32_t counted;
  uint32_t offset;  // from the malloc'd address to the user block
};

thread_local bool t_armed = false;
thread_local Stats t_stats;
thread_local uint64_t t_fail_at = 0;
thread_local Fault t_fault = Fault::None;
thread_local bool t_persistent = false;

// Whether this allocation must fail, and how.
Fault next_fault() {
  if (!t_armed) return Fault::None;
  ++t_stats.allocations;
  if (t_fault == Fault::None || t_fail_at == 0) return Fault::None;
  const uint64_t n = t_stats.allocations;
  if (n == t_fail_at || (t_persistent && n > t_fail_at)) {
    ++t_stats.failed;
    return t_fault;
  }
  return Fault::None;
}

void* allocate(size_t size, size_t align, bool nothrow) {
  const Fault f = next_fault();
  if (f == Fault::Foreign) {
    if (nothrow) return nullptr;
    throw std::runtime_error("kvc_alloc: injected foreign exception");
  }
  if (f == Fault::BadAlloc) {
    if (nothrow) return nullptr;
    throw std::bad_alloc();
  }
  const size_t offset = align > kHeader ? align : kHeader;
  void* base = align > kHeader
                   ? std::aligned_alloc(align, (offset + size + align - 1) / align * align)
                   : std::malloc(offset + size);
  if (base == nullptr) {
    if (nothrow) return nullptr;
    throw std::bad_alloc();
  }
  unsigned char* user = static_cast<unsigned char*>(base) + offset;
  Header h{size, t_armed ? 1u : 0u, static_cast<uint32_t>(offset)};
  std::memcpy(user - sizeof h, &h, sizeof h);
  if (t_armed) {
    t_stats.live_bytes += size;
    if (t_stats.live_bytes > t_stats.peak_bytes) t_stats.peak_bytes = t_stats.live_bytes;
  }
  return user;
}

void release(void* p) noexcept {
  if (p == nullptr) return;
  unsigned char* user = static_cast<unsigned char*>(p);
  Header h;
  std::memcpy(&h, user - sizeof h, sizeof h);
  // A block counted on this thread and freed while armed leaves the live count.
  if (h.counted && t_armed && t_stats.live_bytes >= h.size) t_stats.live_bytes -= h.size;
  std::free(user - h.offset);
}

}  // namespace

void arm() { t_armed = true; }
void disarm() {
  t_armed = false;
  t_fault = Fault::None;
  t_fail_at = 0;
}
void reset() {
  t_stats = Stats{};
  t_fault = Fault::None;
  t_fail_at = 0;
  t_persistent = false;
}
Stats stats() { return t_stats; }

void fail_at(uint64_t n, Fault fault, bool persistent) {
  t_fail_at = n;
  t_fault = fault;
  t_persistent = persistent;
}

}  // namespace kvc_alloc

// ---- The replaced global forms --------------------------------------------------------------
using kvc_alloc::allocate;
using kvc_alloc::release;

void* operator new(size_t n) { return allocate(n, 0, false); }
void* operator new[](size_t n) { return allocate(n, 0, false); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  try {
    return allocate(n, 0, true);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  try {
    return allocate(n, 0, true);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(size_t n, std::align_val_t a) { return allocate(n, size_t(a), false); }
void* operator new[](size_t n, std::align_val_t a) { return allocate(n, size_t(a), false); }
void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return allocate(n, size_t(a), true);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return allocate(n, size_t(a), true);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, size_t) noexcept { release(p); }
void operator delete[](void* p, size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
