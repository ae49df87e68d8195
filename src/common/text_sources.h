// Where a text setting points: one file, a folder, or a glob, each expanded to
// the files it names in a fixed order, so that a corpus of several files reads
// the same way on every machine. Torch-free.
#pragma once

#include <string>
#include <vector>

namespace seedforge {

// Each entry, in the order given, becomes:
//   a file                        itself
//   a folder                      its *.txt and *.jsonl files (not recursive), by name
//   a pattern with * ? or [...]   the matching files (fnmatch over the last path
//                                 component only), by name
// Throws input_error naming `field` for an entry that names no file (missing
// path, empty folder, pattern without a match), usage_error for a file named
// twice or a pattern in a folder name.
std::vector<std::string> expand_text_sources(const std::vector<std::string>& entries, const std::string& field);

// Throws usage_error when one of `files` is the file `held_out` (same inode,
// whatever the spelling): text the model is scored on must not be trained on.
// `held_out_field` names the setting `held_out` came from. No-op when held_out
// does not exist.
void check_disjoint_from(const std::vector<std::string>& files, const std::string& field, const std::string& held_out,
                         const std::string& held_out_field);

}  // namespace seedforge
