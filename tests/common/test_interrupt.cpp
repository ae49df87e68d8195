// The interrupt flag and the scoped handlers an embedding host (the Python
// module) uses: the host's own handler comes back when the scope ends.
#include <gtest/gtest.h>

#include <signal.h>

#include "common/interrupt.h"

namespace seedforge {
namespace {

volatile sig_atomic_t g_host_handler_calls = 0;
void host_handler(int) { g_host_handler_calls = g_host_handler_calls + 1; }

TEST(Interrupt, ScopedHandlersRecordTheSignalAndRestoreTheHostsHandler) {
  struct sigaction host {}, previous {};
  host.sa_handler = host_handler;
  sigemptyset(&host.sa_mask);
  ASSERT_EQ(::sigaction(SIGINT, &host, &previous), 0);
  {
    ScopedInterruptHandlers scope;
    EXPECT_EQ(interrupt_signal(), 0);
    ::raise(SIGINT);  // recorded, not delivered to the host
    EXPECT_EQ(interrupt_signal(), SIGINT);
    EXPECT_EQ(g_host_handler_calls, 0);
  }
  EXPECT_EQ(interrupt_signal(), 0);  // forgotten with the scope
  ::raise(SIGINT);
  EXPECT_EQ(g_host_handler_calls, 1);
  ::sigaction(SIGINT, &previous, nullptr);
}

TEST(Interrupt, RequestedStopReadsAsTheSignalAndKeepsTheFirst) {
  clear_interrupt();
  request_interrupt(SIGTERM);
  request_interrupt(SIGINT);
  EXPECT_EQ(interrupt_signal(), SIGTERM);
  clear_interrupt();
  EXPECT_EQ(interrupt_signal(), 0);
}

}  // namespace
}  // namespace seedforge
