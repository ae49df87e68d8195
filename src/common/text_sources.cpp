#include "common/text_sources.h"

#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "common/error.h"

namespace seedforge {
namespace fs = std::filesystem;

namespace {

bool is_pattern(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

bool is_text_file(const fs::path& p) { return p.extension() == ".txt" || p.extension() == ".jsonl"; }

// Regular files of `folder` accepted by `keep`, by name.
template <typename Keep>
std::vector<std::string> files_in(const fs::path& folder, Keep keep) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    if (e.is_regular_file(ec) && keep(e.path())) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::string> expand_text_sources(const std::vector<std::string>& entries, const std::string& field) {
  std::vector<std::string> files;
  std::map<std::pair<dev_t, ino_t>, std::string> seen;  // (device, inode) -> the name it came as
  for (const std::string& entry : entries) {
    std::error_code ec;
    std::vector<std::string> found;
    if (entry.empty()) throw usage_error(field, ": an entry is empty");
    if (fs::is_directory(entry, ec)) {
      found = files_in(entry, is_text_file);
      if (found.empty()) throw input_error(field, ": folder '", entry, "' holds no .txt or .jsonl file");
    } else if (fs::is_regular_file(entry, ec)) {
      found.push_back(entry);
    } else if (is_pattern(entry)) {
      const fs::path path(entry);
      const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
      if (is_pattern(folder.string())) {
        throw usage_error(field, ": '", entry, "': only the last path component may hold * ? or [...]");
      }
      const std::string pattern = path.filename().string();
      found = files_in(folder, [&](const fs::path& p) {
        return fnmatch(pattern.c_str(), p.filename().string().c_str(), FNM_PERIOD) == 0;
      });
      if (found.empty()) throw input_error(field, ": '", entry, "' matches no file");
    } else {
      throw input_error(field, ": '", entry, "' does not exist");
    }
    for (const std::string& f : found) {
      // One stat per file (not one per pair): a folder may hold thousands.
      struct stat st = {};
      if (::stat(f.c_str(), &st) != 0) throw input_error(field, ": cannot read '", f, "'");
      const auto [it, added] = seen.emplace(std::make_pair(st.st_dev, st.st_ino), f);
      if (!added) throw usage_error(field, ": '", f, "' is named twice (as '", it->second, "' too)");
      files.push_back(f);
    }
  }
  return files;
}

void check_disjoint_from(const std::vector<std::string>& files, const std::string& field, const std::string& held_out,
                         const std::string& held_out_field) {
  std::error_code ec;
  if (!fs::exists(held_out, ec)) return;
  for (const std::string& f : files) {
    if (fs::equivalent(f, held_out, ec)) {
      throw usage_error(field, " includes '", f, "', the ", held_out_field, " text '", held_out,
                        "': a model scored on text it was trained on does not show what it keeps on unseen text. ",
                        "Name the training files one by one (a folder or glob over the text folder takes it in)");
    }
  }
}

}  // namespace seedforge
