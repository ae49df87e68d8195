// ZipReader / ZipWriter: round trips (with and without ZIP64, stored and
// deflated), the 64-byte alignment PyTorch relies on, CRC-32 against a
// bitwise reference, and every kind of corrupt archive the reader must refuse
// with a clear error.
#include <gtest/gtest.h>

#include <random>

#include "io/zip_archive.h"
#include "io_test_util.h"

namespace seedforge {
namespace {

using test::TempDir;

// The textbook bit-at-a-time CRC-32, the naive reference for the table version.
uint32_t crc32_bitwise(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
  }
  return ~c;
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

struct Record {
  std::string name, data;
};

std::vector<Record> sample_records() {
  return {{"arch/data.pkl", random_bytes(100, 1)},
          {"arch/data/0", ""},
          {"arch/data/1", random_bytes(1000, 2)},
          {"arch/data/2", random_bytes(65, 3)},
          {"arch/version", "3\n"}};
}

void write_zip(const std::string& path, const std::vector<Record>& records, ZipWriterOptions options = {}) {
  ZipWriter w(path, options);
  for (const auto& r : records) w.add(r.name, r.data.data(), r.data.size());
  w.finish();
}

TEST(Crc32, MatchesKnownValueAndBitwiseReference) {
  EXPECT_EQ(crc32_of("123456789", 9), 0xCBF43926u);  // the standard check value
  EXPECT_EQ(crc32_of("", 0), 0u);
  for (size_t n : {1u, 7u, 8u, 9u, 63u, 1000u, 4099u}) {
    const std::string s = random_bytes(n, static_cast<uint32_t>(n));
    EXPECT_EQ(crc32_of(s.data(), s.size()), crc32_bitwise(s)) << n;
    // Incremental updates agree with one pass.
    const size_t half = n / 3;
    EXPECT_EQ(crc32_update(crc32_of(s.data(), half), s.data() + half, n - half), crc32_bitwise(s)) << n;
  }
}

void check_round_trip(const ZipWriterOptions& options) {
  TempDir dir;
  const std::string path = dir.file("a.zip");
  const auto records = sample_records();
  write_zip(path, records, options);
  ZipReader zip(path);
  ASSERT_EQ(zip.entries().size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const ZipEntry& e = zip.entries()[i];
    EXPECT_EQ(e.name, records[i].name);
    EXPECT_EQ(e.size, records[i].data.size());
    EXPECT_EQ(e.method, 0);
    EXPECT_EQ(e.data_offset % 64, 0u) << e.name;  // PyTorch's alignment
    EXPECT_EQ(zip.read_string(e), records[i].data);
    EXPECT_EQ(zip.find(records[i].name), &e);
  }
  EXPECT_EQ(zip.find("arch/nope"), nullptr);
  // Nothing left under a temporary name.
  size_t files = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir.path())) {
    (void)f;
    ++files;
  }
  EXPECT_EQ(files, 1u);
}

TEST(ZipArchive, RoundTrip) { check_round_trip({}); }

TEST(ZipArchive, RoundTripZip64) {
  ZipWriterOptions options;
  options.force_zip64 = true;
  check_round_trip(options);
}

TEST(ZipArchive, AbandonedWriterLeavesNothing) {
  TempDir dir;
  {
    ZipWriter w(dir.file("x.zip"));
    w.add("x/a", "abc", 3);
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(ZipArchive, WriterRejectsDuplicateNames) {
  TempDir dir;
  ZipWriter w(dir.file("x.zip"));
  w.add("x/a", "abc", 3);
  test::expect_error([&] { w.add("x/a", "abc", 3); }, ErrorKind::kRuntime, {"added twice"});
}

TEST(ZipArchive, RejectsNonZipAndTruncatedFiles) {
  TempDir dir;
  test::write_bytes(dir.file("empty"), "");
  test::expect_input_error([&] { ZipReader z(dir.file("empty")); }, {"not a zip archive", "empty"});
  test::write_bytes(dir.file("noise"), random_bytes(5000, 9));
  test::expect_input_error([&] { ZipReader z(dir.file("noise")); }, {"not a zip archive", "end-of-central-directory"});

  write_zip(dir.file("good.zip"), sample_records());
  const std::string good = test::read_bytes(dir.file("good.zip"));
  // Cut in the middle: the end record is gone.
  test::write_bytes(dir.file("cut.zip"), good.substr(0, good.size() / 2));
  test::expect_input_error([&] { ZipReader z(dir.file("cut.zip")); }, {"cut.zip"});
  // Drop bytes from the front: every offset is now wrong.
  test::write_bytes(dir.file("shifted.zip"), good.substr(100));
  test::expect_input_error([&] { ZipReader z(dir.file("shifted.zip")); }, {"shifted.zip"});
  test::expect_input_error([&] { ZipReader z(dir.file("missing.zip")); }, {"cannot open", "missing.zip"});
}

// Offsets of the first central-directory record of a non-ZIP64 archive.
size_t first_central(const std::string& zip) { return test::get_le(zip, zip.size() - 22 + 16, 4); }

TEST(ZipArchive, RejectsCorruptDirectoryFields) {
  TempDir dir;
  write_zip(dir.file("good.zip"), sample_records());
  const std::string good = test::read_bytes(dir.file("good.zip"));
  const size_t cd = first_central(good);

  std::string bad = good;
  test::put_le(bad, good.size() - 22 + 16, good.size() + 10, 4);  // directory offset past the end
  test::write_bytes(dir.file("b1.zip"), bad);
  test::expect_input_error([&] { ZipReader z(dir.file("b1.zip")); }, {"central directory"});

  bad = good;
  test::put_le(bad, cd + 42, 7, 4);  // local header offset pointing at garbage
  test::write_bytes(dir.file("b2.zip"), bad);
  test::expect_input_error([&] { ZipReader z(dir.file("b2.zip")); }, {"arch/data.pkl", "local header"});

  bad = good;
  test::put_le(bad, cd + 20, 0x7FFFFFF0, 4);  // sizes far past the file
  test::put_le(bad, cd + 24, 0x7FFFFFF0, 4);
  test::write_bytes(dir.file("b3.zip"), bad);
  test::expect_input_error([&] { ZipReader z(dir.file("b3.zip")); }, {"arch/data.pkl", "runs past"});

  bad = good;
  test::put_le(bad, good.size() - 22 + 10, 500, 2);  // more entries than the directory holds
  test::write_bytes(dir.file("b4.zip"), bad);
  test::expect_input_error([&] { ZipReader z(dir.file("b4.zip")); }, {"entries"});
}

TEST(ZipArchive, RejectsBadChecksumsAndUnknownMethods) {
  TempDir dir;
  write_zip(dir.file("good.zip"), sample_records());
  const std::string good = test::read_bytes(dir.file("good.zip"));
  const size_t cd = first_central(good);

  std::string bad = good;
  test::put_le(bad, cd + 10, 12, 2);  // method: bzip2
  test::write_bytes(dir.file("bzip2.zip"), bad);
  {
    ZipReader z(dir.file("bzip2.zip"));  // listing works; reading the entry does not
    test::expect_input_error([&] { z.data(z.entries()[0]); }, {"arch/data.pkl", "method 12", "deflated (8)"});
  }

  ZipReader ok(dir.file("good.zip"));
  bad = good;
  bad[ok.entries()[0].data_offset + 5] ^= 0x40;  // flip a data bit
  test::write_bytes(dir.file("flipped.zip"), bad);
  ZipReader z(dir.file("flipped.zip"));
  test::expect_input_error([&] { z.data(z.entries()[0]); }, {"arch/data.pkl", "CRC-32"});
  EXPECT_NO_THROW(z.data(z.entries()[0], /*verify_crc=*/false));
}

// Bytes that deflate shrinks: five symbols with skewed frequencies, like the
// digits of the levels codec.
std::string skewed_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) {
    const uint32_t r = rng() % 100;
    c = static_cast<char>(r < 44 ? 0 : r < 67 ? 1 : r < 90 ? 2 : r < 95 ? 3 : 4);
  }
  return s;
}

std::vector<Record> mixed_records() {
  return {{"arch/data.pkl", std::string(3000, 'k') + "tensors"},
          {"arch/data/0", ""},
          {"arch/data/1", random_bytes(1000, 2)},  // deflate cannot shrink it: stored
          {"arch/data/2", skewed_bytes(20000, 3)},
          {"arch/version", "3\n"}};
}

void check_deflated_round_trip(ZipWriterOptions options) {
  TempDir dir;
  const std::string path = dir.file("d.zip");
  const auto records = mixed_records();
  options.deflate = true;
  write_zip(path, records, options);
  ZipReader zip(path);
  ASSERT_EQ(zip.entries().size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const ZipEntry& e = zip.entries()[i];
    EXPECT_EQ(e.size, records[i].data.size());
    if (e.method == 0) {
      EXPECT_EQ(e.compressed_size, e.size) << e.name;
      EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
    } else {
      EXPECT_EQ(e.method, 8) << e.name;
      EXPECT_LT(e.compressed_size, e.size) << e.name;
    }
    EXPECT_EQ(zip.read_string(e), records[i].data) << e.name;
    EXPECT_EQ(zip.data(e), zip.data(e)) << "inflated once, then the same buffer";
  }
  EXPECT_EQ(zip.entries()[0].method, 8);
  EXPECT_EQ(zip.entries()[1].method, 0);  // empty
  EXPECT_EQ(zip.entries()[2].method, 0);  // random
  EXPECT_EQ(zip.entries()[3].method, 8);
  // Five skewed symbols hold 1.94 bits of information a byte; deflate's
  // Huffman codes spend whole bits per symbol (2 here) plus its tables.
  EXPECT_LT(zip.entries()[3].compressed_size, 20000u * 2.2 / 8) << "deflate should come near the entropy";
  EXPECT_GT(zip.entries()[3].compressed_size, 20000u * 1.9 / 8);
}

TEST(ZipArchive, DeflatesWhatShrinksAndStoresTheRest) { check_deflated_round_trip({}); }

TEST(ZipArchive, DeflatesWithZip64Fields) {
  ZipWriterOptions options;
  options.force_zip64 = true;
  check_deflated_round_trip(options);
}

TEST(ZipArchive, RefusesCorruptDeflatedEntries) {
  TempDir dir;
  ZipWriterOptions options;
  options.deflate = true;
  write_zip(dir.file("good.zip"), mixed_records(), options);
  const std::string good = test::read_bytes(dir.file("good.zip"));
  ZipReader ok(dir.file("good.zip"));
  const ZipEntry& levels = ok.entries()[3];
  ASSERT_EQ(levels.method, 8);

  std::string bad = good;  // garbage in the middle of the deflate stream
  for (size_t i = 0; i < 64; ++i) bad[levels.data_offset + levels.compressed_size / 2 + i] = static_cast<char>(0xFF);
  test::write_bytes(dir.file("garbled.zip"), bad);
  {
    ZipReader z(dir.file("garbled.zip"));
    test::expect_input_error([&] { z.data(z.entries()[3]); }, {"garbled.zip", "arch/data/2", "corrupt"});
  }

  // The directory claims one byte more or fewer than the data decodes to.
  const size_t cd = first_central(good);
  size_t entry_cd = cd;
  for (int i = 0; i < 3; ++i) entry_cd += 46 + test::get_le(good, entry_cd + 28, 2) + test::get_le(good, entry_cd + 30, 2);
  for (int delta : {-1, 1}) {
    bad = good;
    test::put_le(bad, entry_cd + 24, levels.size + delta, 4);
    test::write_bytes(dir.file("resized.zip"), bad);
    ZipReader z(dir.file("resized.zip"));
    test::expect_input_error([&] { z.data(z.entries()[3]); }, {"arch/data/2", "corrupt"});
  }

  // A size deflate could never produce from these bytes is refused before allocating it.
  bad = good;
  test::put_le(bad, entry_cd + 24, 0x7FFFFFFF, 4);
  test::write_bytes(dir.file("bomb.zip"), bad);
  ZipReader z(dir.file("bomb.zip"));
  test::expect_input_error([&] { z.data(z.entries()[3]); }, {"arch/data/2", "more than deflate can expand"});
}

}  // namespace
}  // namespace seedforge
