// fault_loop.h: runs a C API call with allocation N made to fail, for N = 1, 2, ... until the
// call makes fewer than N allocations, and checks every status on the way.
#pragma once

#include <gtest/gtest.h>
#include <kvc/kvc.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>

#include "reliability/alloc_counter.h"

namespace kvc_reliability {

struct FaultLoopResult {
  uint64_t iterations = 0;   // calls with an injected fault
  uint64_t allocations = 0;  // allocations of the last, unfaulted call
  uint64_t recovered = 0;    // faulted calls that still returned KVC_OK
};

constexpr uint64_t kMaxFaultIterations = 20000;

// call runs the API call (nothing else: no gtest macros, they allocate) and returns its status.
// after(status) runs unarmed after every faulted call: it checks the context still works.
inline FaultLoopResult fault_loop(const char* name, kvc_alloc::Fault fault, bool persistent,
                                  std::initializer_list<kvc_status> allowed,
                                  const std::function<kvc_status()>& call,
                                  const std::function<void(kvc_status)>& after) {
  FaultLoopResult r;
  for (uint64_t n = 1; n <= kMaxFaultIterations; ++n) {
    kvc_alloc::reset();
    kvc_alloc::fail_at(n, fault, persistent);
    kvc_alloc::arm();
    const kvc_status st = call();
    const kvc_alloc::Stats s = kvc_alloc::stats();
    kvc_alloc::disarm();
    if (s.allocations < n) {  // fewer than n allocations: the call ran unharmed
      EXPECT_EQ(st, KVC_OK) << name << " without a fault, at n = " << n;
      r.allocations = s.allocations;
      break;
    }
    ++r.iterations;
    bool ok = st == KVC_OK;
    for (kvc_status a : allowed) ok = ok || st == a;
    EXPECT_TRUE(ok) << name << ": allocation " << n << (persistent ? "+" : "") << " failed, status "
                    << kvc_status_name(st);
    if (st == KVC_OK) ++r.recovered;
    after(st);
    if (::testing::Test::HasFatalFailure()) break;
  }
  EXPECT_LT(r.iterations, kMaxFaultIterations) << name << " never ran without a fault";
  std::printf(
      "[ faults   ] %-30s %-10s %5llu faulted calls (%llu allocations, %llu recovered)\n", name,
      persistent ? "persistent" : "transient", static_cast<unsigned long long>(r.iterations),
      static_cast<unsigned long long>(r.allocations), static_cast<unsigned long long>(r.recovered));
  return r;
}

}  // namespace kvc_reliability
