// Left-overs of killed writers. Outputs are written under "<path>.tmp.<pid>"
// (file_util.h) and renamed when complete; a writer killed with SIGKILL, or a
// power cut, cannot remove its temporary, so the next run writing <path> does.
// Torch-free.
#pragma once

#include <string>
#include <vector>

namespace seedforge {

// Removes the "<path>.tmp.<pid>" files whose process no longer exists.
// Temporaries of living processes are kept (their writer may still rename
// them). Returns the removed paths, for the log.
std::vector<std::string> remove_stale_temporaries(const std::string& path);

}  // namespace seedforge
