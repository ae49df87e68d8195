// Handing freed heap memory back to the system. Torch-free.
#pragma once

#include <string>

namespace seedforge {

// Returns the heap's free pages to the system (glibc malloc_trim, or
// jemalloc's purge of every arena where jemalloc is the allocator). The
// allocator keeps blocks up to 512 MiB in the heap (runtime/threads.cpp), and
// freeing them keeps their pages resident: a freed model of such tensors
// would still count in the resident set, and a model read next would not
// reuse them (measured: a 1.1B model read after another was freed peaked at
// 7.3 GB instead of 4.5). Cheap (a pass over the free lists); a no-op
// elsewhere.
void release_free_memory();

// "jemalloc 5.3.0-..." where jemalloc is the process's allocator, else
// "glibc malloc" (or "system malloc" off glibc).
std::string allocator_description();

}  // namespace seedforge
