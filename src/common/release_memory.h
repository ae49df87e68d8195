// Handing freed heap memory back to the system. Torch-free.
#pragma once

namespace seedforge {

// Returns the heap's free pages to the system (glibc malloc_trim). The
// allocator keeps blocks up to 512 MiB in the heap (runtime/threads.cpp), and
// freeing them keeps their pages resident: a freed model of such tensors
// would still count in the resident set, and a model read next would not
// reuse them (measured: a 1.1B model read after another was freed peaked at
// 7.3 GB instead of 4.5). Cheap (a pass over the free lists); a no-op
// elsewhere.
void release_free_memory();

}  // namespace seedforge
