// Small checked file helpers shared by readers and writers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace seedforge {

// Whole file into memory; throws input_error naming the path when missing/unreadable.
std::vector<uint8_t> read_file_bytes(const std::string& path);
std::string read_file_text(const std::string& path);
uint64_t file_size_bytes(const std::string& path);

// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename.
// A crash never leaves a partial file under `path`.
void write_file_atomic(const std::string& path, const void* data, size_t size);

// Throws usage_error when the folder that would hold `path` is missing or not writable.
void check_output_path_writable(const std::string& path);

// "<path>.tmp.<pid>": the name outputs are written under before the final rename.
std::string temporary_path_for(const std::string& path);

}  // namespace seedforge
