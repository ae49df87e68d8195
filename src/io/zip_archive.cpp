#include "io/zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "common/error.h"
#include "io/mapped_file.h"
#include "io/output_file.h"

namespace seedforge {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint16_t kPaddingExtraId = 0x4246;  // "FB", as PyTorch writes it
constexpr uint32_t kMax32 = 0xFFFFFFFFu;
constexpr uint16_t kMax16 = 0xFFFFu;
constexpr size_t kLocalHeaderSize = 30;
constexpr size_t kCentralHeaderSize = 46;
constexpr size_t kEndSize = 22;
constexpr size_t kZip64EndSize = 56;
constexpr size_t kZip64LocatorSize = 20;
constexpr uint16_t kStored = 0;
constexpr uint16_t kDeflated = 8;
// Deflate cannot expand data more than 1032 times (a 258-byte match in about
// two bits), so a larger claimed size is a corrupt directory, refused before
// allocating it.
constexpr uint64_t kMaxInflateRatio = 1032;
// zlib counts in 32-bit uInt: entries at least this large are stored.
constexpr uint64_t kMaxDeflateInput = uint64_t{1} << 30;

// Slicing-by-8 tables: 8 bytes per step, a few GB/s, so verifying the
// checksum of a large checkpoint costs little next to reading it.
struct Crc32Tables {
  uint32_t t[8][256];
  Crc32Tables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
  }
};

const Crc32Tables& crc_tables() {
  static const Crc32Tables tables;
  return tables;
}

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t get64(const uint8_t* p) { return get32(p) | (static_cast<uint64_t>(get32(p + 4)) << 32); }

void put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v & 0xFF));
  out.push_back(static_cast<char>(v >> 8));
}
void put32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// True when [offset, offset + length) lies inside [0, limit).
bool in_range(uint64_t offset, uint64_t length, uint64_t limit) {
  return offset <= limit && length <= limit - offset;
}

// Raw deflate (no zlib header: zip holds its own CRC) at level 9, the
// window and memory zlib allows at most. Empty when `size` is 0 or too large.
// strategy: Z_DEFAULT_STRATEGY (matches and Huffman codes) or Z_HUFFMAN_ONLY.
std::string deflate_bytes(const void* data, size_t size, int strategy = Z_DEFAULT_STRATEGY) {
  if (size == 0 || size >= kMaxDeflateInput) return {};
  z_stream zs{};
  if (deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, strategy) != Z_OK) {
    throw runtime_error("zlib deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(size)), '\0');
  zs.next_in = static_cast<Bytef*>(const_cast<void*>(data));
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const uLong produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw runtime_error("zlib deflate failed (", rc, ")");
  out.resize(produced);
  return out;
}

// Level 9 deflates tens of MB a second, and smallest_deflate runs it twice: a
// record over 8 MiB is deflated whole only when its first MiB shrinks by 2 %
// or more (packed trits, for one, do not shrink).
bool worth_deflating(const void* data, size_t size) {
  constexpr size_t kSample = size_t{1} << 20;
  if (size <= 8 * kSample) return true;
  return deflate_bytes(data, kSample).size() * 50 < kSample * 49;
}

// The smaller of two deflate streams: with matches, which pays on text and
// repeated byte strings (the pickle, the tokenizer, SeedLM bits), and Huffman
// codes alone, which pays on independent symbols (packed levels: zlib's
// matches cost more than they save there, 2 % of a stories260K file).
std::string smallest_deflate(const void* data, size_t size) {
  std::string with_matches = deflate_bytes(data, size, Z_DEFAULT_STRATEGY);
  std::string huffman_only = deflate_bytes(data, size, Z_HUFFMAN_ONLY);
  return huffman_only.size() < with_matches.size() ? huffman_only : with_matches;
}

}  // namespace

uint32_t crc32_update(uint32_t crc, const void* data, size_t size) {
  const Crc32Tables& tb = crc_tables();
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
  while (size >= 8) {
    const uint32_t lo = get32(p) ^ c;
    const uint32_t hi = get32(p + 4);
    c = tb.t[7][lo & 0xFF] ^ tb.t[6][(lo >> 8) & 0xFF] ^ tb.t[5][(lo >> 16) & 0xFF] ^ tb.t[4][lo >> 24] ^
        tb.t[3][hi & 0xFF] ^ tb.t[2][(hi >> 8) & 0xFF] ^ tb.t[1][(hi >> 16) & 0xFF] ^ tb.t[0][hi >> 24];
    p += 8;
    size -= 8;
  }
  while (size-- > 0) c = tb.t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
  return ~c;
}

// ---------------------------------------------------------------- reader

ZipReader::ZipReader(const std::string& path) : path_(path), file_(std::make_unique<MappedFile>(path)) {
  const uint8_t* base = file_->data();
  const uint64_t file_size = file_->size();
  if (file_size < kEndSize) {
    throw input_error("'", path, "' is not a zip archive: ", file_size, " bytes is too short");
  }

  // The end record is the last 22 bytes plus a comment of at most 64 KiB;
  // accept the candidate whose comment length reaches the end of the file exactly.
  uint64_t end_pos = std::numeric_limits<uint64_t>::max();
  const uint64_t lowest = file_size > kEndSize + kMax16 ? file_size - kEndSize - kMax16 : 0;
  for (uint64_t pos = file_size - kEndSize + 1; pos-- > lowest;) {
    if (get32(base + pos) == kEndSig && pos + kEndSize + get16(base + pos + 20) == file_size) {
      end_pos = pos;
      break;
    }
  }
  if (end_pos == std::numeric_limits<uint64_t>::max()) {
    throw input_error("'", path, "' is not a zip archive (no end-of-central-directory record)");
  }
  const uint8_t* end = base + end_pos;
  if (get16(end + 4) != 0 || get16(end + 6) != 0) {
    throw input_error("'", path, "': multi-disk zip archives are not supported");
  }
  uint64_t n_entries = get16(end + 10);
  uint64_t cd_size = get32(end + 12);
  uint64_t cd_offset = get32(end + 16);
  uint64_t cd_limit = end_pos;  // the central directory ends before the end records

  if (end_pos >= kZip64LocatorSize && get32(base + end_pos - kZip64LocatorSize) == kZip64LocatorSig) {
    const uint8_t* loc = base + end_pos - kZip64LocatorSize;
    const uint64_t z64_pos = get64(loc + 8);
    if (!in_range(z64_pos, kZip64EndSize, end_pos - kZip64LocatorSize) || get32(base + z64_pos) != kZip64EndSig) {
      throw input_error("'", path, "': ZIP64 end record offset ", z64_pos, " is invalid");
    }
    const uint8_t* z = base + z64_pos;
    n_entries = get64(z + 32);
    cd_size = get64(z + 40);
    cd_offset = get64(z + 48);
    cd_limit = z64_pos;
  }
  if (!in_range(cd_offset, cd_size, cd_limit)) {
    throw input_error("'", path, "': central directory [", cd_offset, ", +", cd_size, ") lies outside the ",
                      cd_limit, " bytes before the end record (truncated or corrupt archive)");
  }
  if (n_entries > cd_size / kCentralHeaderSize) {
    throw input_error("'", path, "': ", n_entries, " entries cannot fit a central directory of ", cd_size,
                      " bytes");
  }

  entries_.reserve(static_cast<size_t>(n_entries));
  uint64_t pos = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < n_entries; ++i) {
    if (!in_range(pos, kCentralHeaderSize, cd_end) || get32(base + pos) != kCentralSig) {
      throw input_error("'", path, "': central directory entry ", i, " at offset ", pos, " is corrupt");
    }
    const uint8_t* h = base + pos;
    ZipEntry e;
    e.flags = get16(h + 8);
    e.method = get16(h + 10);
    e.crc32 = get32(h + 16);
    e.compressed_size = get32(h + 20);
    e.size = get32(h + 24);
    const uint16_t name_len = get16(h + 28), extra_len = get16(h + 30), comment_len = get16(h + 32);
    e.header_offset = get32(h + 42);
    const uint64_t var_len = uint64_t{name_len} + extra_len + comment_len;
    if (!in_range(pos + kCentralHeaderSize, var_len, cd_end)) {
      throw input_error("'", path, "': central directory entry ", i, " runs past the directory");
    }
    e.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderSize), name_len);
    if (e.name.empty()) throw input_error("'", path, "': central directory entry ", i, " has an empty name");

    // ZIP64 extra: the fields that were 0xFFFFFFFF, in a fixed order.
    const uint8_t* extra = h + kCentralHeaderSize + name_len;
    for (uint32_t x = 0; x + 4 <= extra_len;) {
      const uint16_t id = get16(extra + x), len = get16(extra + x + 2);
      if (x + 4 + len > extra_len) throw input_error("'", path, "': entry '", e.name, "' has a corrupt extra field");
      if (id == kZip64ExtraId) {
        const uint8_t* f = extra + x + 4;
        uint32_t used = 0;
        auto take = [&](uint64_t& field) {
          if (used + 8 > len) throw input_error("'", path, "': entry '", e.name, "' has a short ZIP64 field");
          field = get64(f + used);
          used += 8;
        };
        if (e.size == kMax32) take(e.size);
        if (e.compressed_size == kMax32) take(e.compressed_size);
        if (e.header_offset == kMax32) take(e.header_offset);
      }
      x += 4u + len;
    }
    if (e.flags & 1u) throw input_error("'", path, "': entry '", e.name, "' is encrypted");

    // The local header gives the name and extra lengths that place the data.
    if (!in_range(e.header_offset, kLocalHeaderSize, cd_offset) || get32(base + e.header_offset) != kLocalSig) {
      throw input_error("'", path, "': entry '", e.name, "' local header offset ", e.header_offset,
                        " is invalid");
    }
    const uint8_t* lh = base + e.header_offset;
    const uint64_t local_var = uint64_t{get16(lh + 26)} + get16(lh + 28);
    if (!in_range(e.header_offset + kLocalHeaderSize, local_var, cd_offset)) {
      throw input_error("'", path, "': entry '", e.name, "' local header runs into the central directory");
    }
    if (get16(lh + 26) != name_len ||
        std::memcmp(lh + kLocalHeaderSize, e.name.data(), name_len) != 0) {
      throw input_error("'", path, "': entry '", e.name, "' local header names a different file");
    }
    e.data_offset = e.header_offset + kLocalHeaderSize + local_var;
    if (!in_range(e.data_offset, e.compressed_size, cd_offset)) {
      throw input_error("'", path, "': entry '", e.name, "' data [", e.data_offset, ", +", e.compressed_size,
                        ") runs past the end of the data area (", cd_offset, " bytes): truncated archive?");
    }
    if (e.method == kStored && e.compressed_size != e.size) {
      throw input_error("'", path, "': stored entry '", e.name, "' has size ", e.size, " but ",
                        e.compressed_size, " stored bytes");
    }
    if (!index_.emplace(e.name, entries_.size()).second) {
      throw input_error("'", path, "': entry '", e.name, "' appears twice");
    }
    entries_.push_back(std::move(e));
    pos += kCentralHeaderSize + var_len;
  }
}

ZipReader::~ZipReader() = default;

const ZipEntry* ZipReader::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const uint8_t* ZipReader::data(const ZipEntry& entry, bool verify_crc) const {
  if (entry.method == kDeflated) return inflated(entry);
  if (entry.method != kStored) {
    throw input_error("'", path_, "': entry '", entry.name, "' is compressed with method ", entry.method,
                      "; only stored (0) and deflated (8) entries are supported");
  }
  const uint8_t* p = file_->data() + entry.data_offset;
  if (verify_crc) {
    const uint32_t crc = crc32_of(p, static_cast<size_t>(entry.size));
    if (crc != entry.crc32) {
      throw input_error("'", path_, "': entry '", entry.name, "' is corrupt (CRC-32 ", crc, ", expected ",
                        entry.crc32, ")");
    }
  }
  return p;
}

const uint8_t* ZipReader::inflated(const ZipEntry& entry) const {
  std::lock_guard<std::mutex> lock(inflate_mutex_);
  const auto found = inflated_.find(entry.name);
  if (found != inflated_.end()) return found->second.data();
  const std::string where = concat("'", path_, "': deflated entry '", entry.name, "'");
  if (entry.size / kMaxInflateRatio > entry.compressed_size) {
    throw input_error(where, " claims ", entry.size, " bytes from ", entry.compressed_size,
                      ", more than deflate can expand (corrupt directory)");
  }
  std::vector<uint8_t> out(static_cast<size_t>(entry.size));
  z_stream zs{};
  if (inflateInit2(&zs, -15) != Z_OK) throw runtime_error("zlib inflateInit2 failed");
  const uint8_t* in = file_->data() + entry.data_offset;
  uint64_t in_left = entry.compressed_size, out_left = entry.size;
  zs.next_in = const_cast<Bytef*>(in);
  zs.next_out = out.data();
  int rc = Z_OK;
  while (rc == Z_OK) {  // fed in pieces that fit zlib's 32-bit counters
    if (zs.avail_in == 0) {
      zs.avail_in = static_cast<uInt>(std::min<uint64_t>(in_left, kMaxDeflateInput));
      in_left -= zs.avail_in;
    }
    if (zs.avail_out == 0) {
      zs.avail_out = static_cast<uInt>(std::min<uint64_t>(out_left, kMaxDeflateInput));
      out_left -= zs.avail_out;
    }
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_BUF_ERROR && (zs.avail_in != 0 || in_left != 0) && (zs.avail_out != 0 || out_left != 0)) rc = Z_OK;
  }
  const bool complete = rc == Z_STREAM_END && zs.avail_in == 0 && in_left == 0 && zs.avail_out == 0 && out_left == 0;
  const char* message = zs.msg;
  inflateEnd(&zs);
  if (!complete) {
    throw input_error(where, " is corrupt: ",
                      message ? concat("zlib: ", message) : concat("its data does not decode to exactly ", entry.size, " bytes"));
  }
  const uint32_t crc = crc32_of(out.data(), out.size());
  if (crc != entry.crc32) {
    throw input_error(where, " is corrupt (CRC-32 ", crc, ", expected ", entry.crc32, ")");
  }
  // The compressed bytes are read once: their pages need not stay resident
  // beside the inflated copy (271 MB of a 1.1B-shaped levels file's 380 MB record).
  file_->release(in, static_cast<size_t>(entry.compressed_size));
  return inflated_.emplace(entry.name, std::move(out)).first->second.data();
}

void ZipReader::release(const uint8_t* p, size_t n) const {
  const uint8_t* begin = file_->data();
  if (p >= begin && p < begin + file_->size()) file_->release(p, n);
}

bool ZipReader::is_inflated(const ZipEntry& entry) const { return entry.method == kDeflated; }

void ZipReader::discard(const ZipEntry& entry) const {
  std::lock_guard<std::mutex> lock(inflate_mutex_);
  inflated_.erase(entry.name);
}

uint64_t ZipReader::inflated_bytes() const {
  std::lock_guard<std::mutex> lock(inflate_mutex_);
  uint64_t bytes = 0;
  for (const auto& [name, buffer] : inflated_) bytes += buffer.size();
  return bytes;
}

std::string ZipReader::read_string(const ZipEntry& entry) const {
  const uint8_t* p = data(entry);
  return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(entry.size));
}

// ---------------------------------------------------------------- writer

ZipWriter::ZipWriter(const std::string& path, ZipWriterOptions options)
    : path_(path), options_(options), out_(std::make_unique<OutputFile>(path)) {
  if (options_.alignment == 0) options_.alignment = 1;
}

ZipWriter::~ZipWriter() = default;

void ZipWriter::add(const std::string& name, const void* data, size_t size) {
  if (!out_) throw runtime_error("zip '", path_, "': add('", name, "') after finish()");
  if (name.empty() || name.size() > kMax16) throw runtime_error("zip '", path_, "': bad entry name length");
  if (!names_.emplace(name, written_.size()).second) {
    throw runtime_error("zip '", path_, "': entry '", name, "' added twice");
  }
  const uint64_t offset = out_->position();
  const uint32_t crc = crc32_of(data, size);
  const bool zip64 = options_.force_zip64 || size >= kMax32;
  const std::string deflated = options_.deflate && worth_deflating(data, size) ? smallest_deflate(data, size) : std::string();
  const bool deflate = !deflated.empty() && deflated.size() < size;
  const uint64_t compressed_size = deflate ? deflated.size() : size;

  std::string extra;
  if (zip64) {  // the local ZIP64 field carries both sizes
    put16(extra, kZip64ExtraId);
    put16(extra, 16);
    put64(extra, size);
    put64(extra, compressed_size);
  }
  const uint64_t unpadded = offset + kLocalHeaderSize + name.size() + extra.size();
  uint64_t pad = deflate ? 0 : (options_.alignment - unpadded % options_.alignment) % options_.alignment;
  if (pad != 0 && pad < 4) pad += options_.alignment;  // room for the field's own 4-byte header
  if (pad != 0) {
    put16(extra, kPaddingExtraId);
    put16(extra, static_cast<uint16_t>(pad - 4));
    extra.append(static_cast<size_t>(pad - 4), 'Z');
  }

  std::string h;
  put32(h, kLocalSig);
  put16(h, zip64 ? 45 : 20);  // version needed: 4.5 for ZIP64
  put16(h, 0x0800);           // names are UTF-8
  put16(h, deflate ? kDeflated : kStored);
  put16(h, 0);                // time and date 0: output bytes do not depend on the clock
  put16(h, 0x21);             // 1980-01-01
  put32(h, crc);
  put32(h, zip64 ? kMax32 : static_cast<uint32_t>(compressed_size));
  put32(h, zip64 ? kMax32 : static_cast<uint32_t>(size));
  put16(h, static_cast<uint16_t>(name.size()));
  put16(h, static_cast<uint16_t>(extra.size()));
  h += name;
  h += extra;
  out_->write(h.data(), h.size());
  if (deflate) {
    out_->write(deflated.data(), deflated.size());
  } else {
    out_->write(data, size);
  }
  written_.push_back({name, deflate ? kDeflated : kStored, crc, size, compressed_size, offset});
}

void ZipWriter::finish() {
  if (!out_) throw runtime_error("zip '", path_, "': finish() called twice");
  const uint64_t cd_offset = out_->position();
  std::string cd;
  for (const Written& w : written_) {
    const bool big_size = options_.force_zip64 || w.size >= kMax32;
    const bool big_offset = options_.force_zip64 || w.header_offset >= kMax32;
    std::string extra;
    if (big_size || big_offset) {
      put16(extra, kZip64ExtraId);
      put16(extra, static_cast<uint16_t>(8 * ((big_size ? 2 : 0) + (big_offset ? 1 : 0))));
      if (big_size) {
        put64(extra, w.size);
        put64(extra, w.compressed_size);
      }
      if (big_offset) put64(extra, w.header_offset);
    }
    put32(cd, kCentralSig);
    put16(cd, 45);  // made by: MS-DOS host, spec 4.5
    put16(cd, (big_size || big_offset) ? 45 : 20);
    put16(cd, 0x0800);
    put16(cd, w.method);
    put16(cd, 0);
    put16(cd, 0x21);
    put32(cd, w.crc32);
    put32(cd, big_size ? kMax32 : static_cast<uint32_t>(w.compressed_size));
    put32(cd, big_size ? kMax32 : static_cast<uint32_t>(w.size));
    put16(cd, static_cast<uint16_t>(w.name.size()));
    put16(cd, static_cast<uint16_t>(extra.size()));
    put16(cd, 0);  // comment
    put16(cd, 0);  // disk
    put16(cd, 0);  // internal attributes
    put32(cd, 0);  // external attributes
    put32(cd, big_offset ? kMax32 : static_cast<uint32_t>(w.header_offset));
    cd += w.name;
    cd += extra;
  }
  const uint64_t cd_size = cd.size();
  const uint64_t n = written_.size();
  const bool zip64_end = options_.force_zip64 || n >= kMax16 || cd_offset >= kMax32 || cd_size >= kMax32;
  if (zip64_end) {
    const uint64_t z64_pos = cd_offset + cd_size;
    put32(cd, kZip64EndSig);
    put64(cd, kZip64EndSize - 12);  // size of the rest of the record
    put16(cd, 45);
    put16(cd, 45);
    put32(cd, 0);
    put32(cd, 0);
    put64(cd, n);
    put64(cd, n);
    put64(cd, cd_size);
    put64(cd, cd_offset);
    put32(cd, kZip64LocatorSig);
    put32(cd, 0);
    put64(cd, z64_pos);
    put32(cd, 1);
  }
  put32(cd, kEndSig);
  put16(cd, 0);
  put16(cd, 0);
  put16(cd, zip64_end ? kMax16 : static_cast<uint16_t>(n));
  put16(cd, zip64_end ? kMax16 : static_cast<uint16_t>(n));
  put32(cd, zip64_end ? kMax32 : static_cast<uint32_t>(cd_size));
  put32(cd, zip64_end ? kMax32 : static_cast<uint32_t>(cd_offset));
  put16(cd, 0);
  out_->write(cd.data(), cd.size());
  out_->commit();
  out_.reset();
}

}  // namespace seedforge
