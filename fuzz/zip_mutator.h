// A libFuzzer custom mutator for zip-based inputs (.pt, .stage1.pt).
//
// Why: the zip reader checks every record's CRC-32, so a byte-level mutation
// of the pickle or of a tensor's storage is refused at the CRC and never
// reaches the unpickler, the tensor views or the Stage-1 decoder. This
// mutator opens the input as a zip, mutates one record's bytes (the pickle
// most often) with libFuzzer's own mutator, and writes the archive again
// with ZipWriter, so the CRCs match. Half of the mutations stay plain byte
// mutations of the whole file, which keeps the zip layer itself fuzzed. Inputs
// remain ordinary files: crashes reproduce by running the target on them.
#pragma once

#include <cstdint>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "io/zip_archive.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace seedforge::fuzz {

inline size_t mutate_zip_records(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  std::minstd_rand random(seed);
  if (random() % 2 == 0) return LLVMFuzzerMutate(data, size, max_size);
  struct Record {
    std::string name;
    std::string bytes;
  };
  std::vector<Record> records;
  size_t chosen = 0;
  try {
    ZipReader zip(write_file("mutate_in.zip", data, size));
    for (const ZipEntry& e : zip.entries()) {
      const uint8_t* bytes = zip.data(e, /*verify_crc=*/false);
      records.push_back({e.name, std::string(reinterpret_cast<const char*>(bytes), e.size)});
      const bool pickle = e.name.size() >= 8 && e.name.compare(e.name.size() - 8, 8, "data.pkl") == 0;
      if (pickle) chosen = records.size() - 1;
    }
  } catch (const Error&) {
    return LLVMFuzzerMutate(data, size, max_size);  // not a zip (any more): plain bytes
  }
  if (records.empty()) return LLVMFuzzerMutate(data, size, max_size);
  if (random() % 3 == 0) chosen = random() % records.size();  // else the pickle, when there is one

  // Room to grow the record by what the whole input may still grow.
  std::string& target = records[chosen].bytes;
  const size_t room = max_size > size ? max_size - size : 0;
  const size_t old_size = target.size();
  target.resize(old_size + room);
  target.resize(LLVMFuzzerMutate(reinterpret_cast<uint8_t*>(target.data()), old_size, old_size + room));

  std::string out;
  try {
    const std::string path = (scratch_dir() / "mutate_out.zip").string();
    {
      ZipWriter writer(path);
      for (const Record& r : records) writer.add(r.name, r.bytes.data(), r.bytes.size());
      writer.finish();
    }
    std::ifstream in(path, std::ios::binary);
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const Error&) {
    return LLVMFuzzerMutate(data, size, max_size);
  }
  if (out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

}  // namespace seedforge::fuzz
