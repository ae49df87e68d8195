// `stage1 --nproc N`: a data-parallel run on this machine without torchrun.
// This process becomes a launcher: it starts N copies of its own executable
// with `arguments` (its command line without --nproc) and the environment
// torchrun would give them (RANK = LOCAL_RANK = 0 .. N-1, WORLD_SIZE = N,
// MASTER_ADDR = 127.0.0.1, MASTER_PORT = a free port), then waits for them.
//
// Faults: the workers stop each other (a dead or hung peer fails their next
// collective within hardware.dist_timeout_s, process_group.h); as a last
// resort the launcher kills the workers still running timeout_s + 5 s after
// the first one failed. The workers run in a process group of their own, so
// that Ctrl-C reaches only the launcher, which passes SIGINT/SIGTERM on to
// every worker once (they then stop at their next step with a checkpoint);
// a worker whose launcher died gets SIGTERM.
// Torch-free.
#pragma once

#include <string>
#include <vector>

namespace seedforge {

// The workers' exit status as the run's: rank 0's when it failed, else the
// first failure's (128 + signal for a worker killed by a signal), else 0.
// Each failed worker is named on stderr. Throws runtime_error when a worker
// cannot be started (the ones already started are stopped first).
int launch_local_workers(const std::vector<std::string>& arguments, int nproc, double timeout_s);

// The command line without "--nproc N" / "--nproc=N" (argv[0] included).
std::vector<std::string> without_nproc(int argc, char** argv);

// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's choice).
int free_loopback_port();

}  // namespace seedforge
