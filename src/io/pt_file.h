// PyTorch .pt / .bin files (torch.save's zip format, PyTorch >= 1.6) as a
// small value tree, read and written without Python or torch::pickle_*.
//
// Archive layout (see io/zip_archive.h for the zip itself, io/pickle.h for
// the pickle subset), <a> being one top-level folder, any name:
//   <a>/data.pkl     the pickled object; tensors refer to storages by key
//   <a>/data/<key>   one record per storage: numel * element size raw bytes,
//                    little-endian, 64-byte aligned
//   <a>/version      "3\n" (format version; optional when reading)
//   <a>/byteorder    "little" (written by PyTorch >= 2.1; optional; "big" refused)
//   <a>/.data/...    other PyTorch bookkeeping (ignored)
// A tensor is a view (storage offset, size, stride, in elements) of a
// storage; several tensors may share one storage, and the reader keeps that
// sharing (as_strided views), as torch.load does.
//
// Supported dtypes: float32, float16, bfloat16, float64, int64, int32, int16,
// int8, uint8, bool. Python floats survive a round trip, but PyTorch 1.13's
// torch.load(weights_only=True) refuses them (no BINFLOAT there; 2.x accepts):
// files meant for that loader should hold ints, strings and tensors only.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/pt_archive.h"

namespace seedforge {

class PtValue {
 public:
  enum class Kind { kNone, kBool, kInt, kDouble, kString, kList, kTuple, kDict, kTensor };

  PtValue() = default;  // None
  static PtValue none() { return PtValue(); }
  static PtValue of_bool(bool v);
  static PtValue of_int(int64_t v);
  static PtValue of_double(double v);
  static PtValue of_string(std::string v);
  static PtValue of_tensor(torch::Tensor v);
  static PtValue new_list(std::vector<PtValue> items = {});
  static PtValue new_tuple(std::vector<PtValue> items = {});
  static PtValue new_dict();

  Kind kind() const { return kind_; }
  bool is(Kind k) const { return kind_ == k; }
  const char* kind_name() const;

  // Typed access; input_error naming the expected and actual kind on mismatch
  // (as_double also accepts an int).
  bool as_bool() const;
  int64_t as_int() const;
  double as_double() const;
  const std::string& as_string() const;
  const torch::Tensor& as_tensor() const;
  const std::vector<PtValue>& items() const;  // list or tuple
  std::vector<PtValue>& items();
  const std::vector<std::pair<PtValue, PtValue>>& entries() const;  // dict; keys str or int
  std::vector<std::pair<PtValue, PtValue>>& entries();

  // Dict helpers: find returns nullptr when absent; at throws input_error naming the key.
  const PtValue* find(const std::string& key) const;
  const PtValue& at(const std::string& key) const;
  PtValue& set(const std::string& key, PtValue value);  // replaces in place or appends
  PtValue& set(int64_t key, PtValue value);
  void append(PtValue value);  // list or tuple

 private:
  void expect(Kind k) const;
  Kind kind_ = Kind::kNone;
  bool bool_ = false;
  int64_t int_ = 0;
  double double_ = 0.0;
  std::string string_;
  std::vector<PtValue> items_;
  std::vector<std::pair<PtValue, PtValue>> entries_;
  torch::Tensor tensor_;
};

// Reads a torch.save zip. Tensors come back on the CPU with their stored
// dtype and geometry. Throws input_error naming the path (and record/tensor)
// for a legacy (pre-1.6) file, a zip that is not a checkpoint, a refused
// pickle global, missing or mis-sized storages, out-of-bounds views, ...
PtValue read_pt_file(const std::string& path);

// Writes `root` so that torch.load(path, weights_only=True) opens it (see the
// float caveat above). Atomic: written under a temporary name, then renamed.
// The archive folder is the file's stem, as PyTorch names it. Tensors are
// moved to the CPU; tensors sharing a storage share it in the file.
// deflate_entries: each record that deflate makes smaller is deflated (torch.load
// reads it; torch.load(mmap=True) and in-place use need stored records).
void write_pt_file(const std::string& path, const PtValue& root, bool deflate_entries = false);

// looks_like_legacy_pt_file(path) (io/pt_archive.h) tells the pre-1.6 layouts
// apart, which read_pt_file refuses with advice to re-save.

}  // namespace seedforge
