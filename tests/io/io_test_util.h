// Helpers shared by the io tests: a temporary folder per test, byte-level
// file access for corrupting fixtures, running Debian's Python, and a tiny
// Llama state dict in Hugging Face naming.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "model/transformer.h"

namespace seedforge::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "seedforge_io_XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline void put_le(std::string& bytes, size_t offset, uint64_t value, int n) {
  for (int i = 0; i < n; ++i) bytes[offset + i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}
inline uint64_t get_le(const std::string& bytes, size_t offset, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(bytes[offset + i]);
  return v;
}

inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// Runs `fn`, expecting a seedforge::Error of `kind` whose message contains
// every string in `needles`; returns the message.
inline std::string expect_error(const std::function<void()>& fn, ErrorKind kind,
                                const std::vector<std::string>& needles) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << "missing '" << n << "' in: " << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected seedforge::Error, got std::exception: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected an error containing '" << (needles.empty() ? "" : needles[0]) << "', got none";
  return "";
}
inline std::string expect_input_error(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  return expect_error(fn, ErrorKind::kInput, needles);
}

// Runs SEEDFORGE_PYTHON on `script` (written to dir/name) with `args`;
// returns the exit status and puts stdout+stderr in *log.
inline int run_python(const TempDir& dir, const std::string& name, const std::string& script, const std::string& args,
                      std::string* log) {
  const std::string script_path = dir.file(name);
  write_bytes(script_path, script);
  const std::string log_path = dir.file(name + ".log");
  const std::string cmd = std::string(SEEDFORGE_PYTHON) + " '" + script_path + "' " + args + " > '" + log_path + "' 2>&1";
  const int status = std::system(cmd.c_str());
  *log = read_bytes(log_path);
  return status;
}

inline void expect_same_state_dict(const StateDict& a, const StateDict& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.scalar_type(), b[i].second.scalar_type()) << a[i].first;
    EXPECT_TRUE(a[i].second.sizes() == b[i].second.sizes()) << a[i].first;
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

inline void expect_same_config(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.hidden_dim, b.hidden_dim);
  EXPECT_EQ(a.n_layers, b.n_layers);
  EXPECT_EQ(a.n_heads, b.n_heads);
  EXPECT_EQ(a.n_kv_heads, b.n_kv_heads);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.max_seq_len, b.max_seq_len);
  EXPECT_DOUBLE_EQ(a.rope_theta, b.rope_theta);
  EXPECT_DOUBLE_EQ(a.norm_eps, b.norm_eps);
  EXPECT_EQ(a.tie_embeddings, b.tie_embeddings);
  EXPECT_EQ(a.attention_bias, b.attention_bias);
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
}

}  // namespace seedforge::test
