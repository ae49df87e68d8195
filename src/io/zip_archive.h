// The ZIP layout that torch.save() writes (PyTorch's PyTorchStreamWriter,
// miniz underneath), read and written without libtorch. torch.save stores
// every entry; torch.load (miniz) also reads deflated ones, which seedforge
// writes where they are smaller (ZipWriterOptions::deflate) and reads with zlib.
//
// Layout (all integers little-endian, PKWARE APPNOTE 6.3):
//   per entry:  local header   "PK\3\4" ver:2 flags:2 method:2 time:2 date:2
//                              crc32:4 csize:4 usize:4 name_len:2 extra_len:2
//                              name, extra
//               data           (method 0 = stored: csize == usize bytes;
//                               method 8 = raw deflate, RFC 1951)
//               [data descriptor "PK\7\8" crc:4 csize:4 usize:4 when flag bit 3]
//   central directory, one per entry:
//               "PK\1\2" made_by:2 ver:2 flags:2 method:2 time:2 date:2 crc32:4
//               csize:4 usize:4 name_len:2 extra_len:2 comment_len:2 disk:2
//               int_attr:2 ext_attr:4 local_header_offset:4, name, extra, comment
//   [ZIP64 end record "PK\6\6" and locator "PK\6\7" when a size, an offset or
//    the entry count does not fit the 32/16-bit fields]
//   end record  "PK\5\6" disk:2 cd_disk:2 n_disk:2 n_total:2 cd_size:4
//               cd_offset:4 comment_len:2, comment
// A 32-bit field holding 0xFFFFFFFF means "see the ZIP64 extra field"
// (id 0x0001: usize:8, csize:8, offset:8, present in that order only for the
// fields that overflowed).
//
// PyTorch aligns every record's data to 64 bytes by padding the local
// header's extra field with an "FB" (0x4246) field of 'Z' bytes, so that
// tensors can be used in place; the writer does the same. PyTorch writes
// zero sizes in local headers and a data descriptor after the data, so the
// reader trusts the central directory and only uses the local header for the
// name and extra lengths (which locate the data).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace seedforge {

class MappedFile;
class OutputFile;

// CRC-32 (IEEE 802.3, reflected 0xEDB88320), as zip and zlib compute it.
// crc32_update(0, ...) starts a new checksum.
uint32_t crc32_update(uint32_t crc, const void* data, size_t size);
inline uint32_t crc32_of(const void* data, size_t size) { return crc32_update(0, data, size); }

struct ZipEntry {
  std::string name;
  uint16_t method = 0;           // 0 stored, 8 deflated, ...
  uint16_t flags = 0;
  uint32_t crc32 = 0;
  uint64_t size = 0;             // uncompressed bytes
  uint64_t compressed_size = 0;  // bytes stored in the archive
  uint64_t header_offset = 0;    // of the local header
  uint64_t data_offset = 0;      // of the first data byte
};

class ZipReader {
 public:
  // Maps `path` and parses its central directory, checking every offset and
  // size against the file. Throws input_error naming the path on anything
  // that is not a well-formed zip archive.
  explicit ZipReader(const std::string& path);
  ~ZipReader();

  const std::string& path() const { return path_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // nullptr when absent.
  const ZipEntry* find(const std::string& name) const;

  // The entry's entry.size bytes, valid while this reader lives: inside the
  // mapping for a stored entry; for a deflated one, inflated on first use into
  // a buffer this reader keeps until discard(entry) (the CRC-32 is then always
  // checked; the compressed pages are then let go, as release() does). Throws
  // input_error for other methods, corrupt deflate data and, when verify_crc,
  // a CRC-32 mismatch.
  const uint8_t* data(const ZipEntry& entry, bool verify_crc = true) const;
  std::string read_string(const ZipEntry& entry) const;
  // Lets the pages of [p, p + n) leave the resident set (MappedFile::release)
  // when they lie inside the mapping; the bytes stay readable. Inflated
  // buffers stay as they are.
  void release(const uint8_t* p, size_t n) const;
  // True when data(entry) is a buffer this reader inflated (a deflated entry).
  bool is_inflated(const ZipEntry& entry) const;
  // Frees the inflated copy of a deflated entry: pointers into it are no
  // longer valid, and the next data(entry) inflates it again.
  void discard(const ZipEntry& entry) const;
  // Bytes of inflated copies held now.
  uint64_t inflated_bytes() const;

 private:
  const uint8_t* inflated(const ZipEntry& entry) const;

  std::string path_;
  std::unique_ptr<MappedFile> file_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
  mutable std::mutex inflate_mutex_;
  // Deflated entries' bytes by name; nodes never move, so pointers into them stay valid.
  mutable std::unordered_map<std::string, std::vector<uint8_t>> inflated_;
};

struct ZipWriterOptions {
  uint32_t alignment = 64;   // stored entries' data offsets are multiples of this (1 = none)
  bool force_zip64 = false;  // ZIP64 fields even when not needed (for tests)
  // Deflate each entry whose deflated bytes (zlib level 9, with and without
  // matches: the smaller) are fewer than its own, and store the others.
  // Deflated entries are not aligned: they cannot be used in place anyway.
  // Entries of 1 GiB or more are always stored.
  bool deflate = false;
};

// Writes entries to a temporary file; finish() writes the central directory
// and renames the file into place. Dropping a writer without finish() leaves
// nothing under `path`. Output bytes depend only on the entries (and on
// zlib's version where deflate is on), never on the clock.
class ZipWriter {
 public:
  explicit ZipWriter(const std::string& path, ZipWriterOptions options = {});
  ~ZipWriter();
  ZipWriter(const ZipWriter&) = delete;
  ZipWriter& operator=(const ZipWriter&) = delete;

  void add(const std::string& name, const void* data, size_t size);
  void finish();

 private:
  struct Written {
    std::string name;
    uint16_t method;
    uint32_t crc32;
    uint64_t size;
    uint64_t compressed_size;
    uint64_t header_offset;
  };
  std::string path_;
  ZipWriterOptions options_;
  std::unique_ptr<OutputFile> out_;
  std::vector<Written> written_;
  std::unordered_map<std::string, size_t> names_;
};

}  // namespace seedforge
