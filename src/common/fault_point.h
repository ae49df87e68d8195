// Named places where the fault tests stop a run on purpose. With the
// environment variable SEEDFORGE_FAULT_PAUSE=<name>, fault_point(<name>)
// prints "fault point '<name>' reached (pid N)" to stderr and waits there
// until a signal arrives: SIGKILL ends the process at exactly that point (a
// crash mid-load, mid-fine-tuning, mid-write), SIGUSR1 lets it go on, and
// SIGINT/SIGTERM with install_interrupt_handlers() (interrupt.h) let it go on
// to its next safe point, where it stops. Tests wait for the line
// instead of sleeping for a machine-dependent time. Without the variable a
// fault point is a cached string comparison. Torch-free.
#pragma once

namespace seedforge {

void fault_point(const char* name);

}  // namespace seedforge
