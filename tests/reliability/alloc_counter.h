// alloc_counter.h: a test allocator replacing global operator new/delete: counts live and peak
// bytes, and fails (or throws from) the Nth allocation on request.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvc_alloc {

enum class Fault {
  None,
  BadAlloc,  // allocation N fails with std::bad_alloc (nullptr for nothrow forms)
  Foreign,   // allocation N throws std::runtime_error: an exception kvc does not expect
};

struct Stats {
  uint64_t allocations = 0;  // counted since reset()
  uint64_t live_bytes = 0;   // allocated while armed and not yet freed
  uint64_t peak_bytes = 0;   // highest live_bytes since reset()
  uint64_t failed = 0;       // allocations made to fail
};

// Counting (and faults) apply only between arm() and disarm(), on the arming thread.
void arm();
void disarm();
void reset();
Stats stats();

// Allocation number n (1-based, counted from arm()) fails with fault; persistent: n and all later.
void fail_at(uint64_t n, Fault fault = Fault::BadAlloc, bool persistent = false);

// Arms for its lifetime, after reset().
class Scope {
 public:
  Scope() {
    reset();
    arm();
  }
  ~Scope() { disarm(); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
};

}  // namespace kvc_alloc
