// read_pt_file / write_pt_file: value trees with every dtype, shared
// storages and strided views, the archive layout PyTorch expects, and the
// refusals (legacy files, zips that are not checkpoints, bad storages); and
// PtArchive's release of inflated records.
#include <gtest/gtest.h>

#include <random>

#include "io/pickle.h"
#include "io/pt_archive.h"
#include "io/pt_file.h"
#include "io/zip_archive.h"
#include "io_test_util.h"

namespace seedforge {
namespace {

using test::TempDir;

void expect_same_value(const PtValue& a, const PtValue& b, const std::string& at = "root") {
  ASSERT_EQ(static_cast<int>(a.kind()), static_cast<int>(b.kind())) << at;
  switch (a.kind()) {
    case PtValue::Kind::kNone: break;
    case PtValue::Kind::kBool: EXPECT_EQ(a.as_bool(), b.as_bool()) << at; break;
    case PtValue::Kind::kInt: EXPECT_EQ(a.as_int(), b.as_int()) << at; break;
    case PtValue::Kind::kDouble: EXPECT_EQ(a.as_double(), b.as_double()) << at; break;
    case PtValue::Kind::kString: EXPECT_EQ(a.as_string(), b.as_string()) << at; break;
    case PtValue::Kind::kList:
    case PtValue::Kind::kTuple:
      ASSERT_EQ(a.items().size(), b.items().size()) << at;
      for (size_t i = 0; i < a.items().size(); ++i) expect_same_value(a.items()[i], b.items()[i], at + "[" + std::to_string(i) + "]");
      break;
    case PtValue::Kind::kDict:
      ASSERT_EQ(a.entries().size(), b.entries().size()) << at;
      for (size_t i = 0; i < a.entries().size(); ++i) {
        expect_same_value(a.entries()[i].first, b.entries()[i].first, at + ".key");
        expect_same_value(a.entries()[i].second, b.entries()[i].second, at + "." + std::to_string(i));
      }
      break;
    case PtValue::Kind::kTensor: {
      const torch::Tensor& x = a.as_tensor();
      const torch::Tensor& y = b.as_tensor();
      EXPECT_EQ(x.scalar_type(), y.scalar_type()) << at;
      EXPECT_TRUE(x.sizes() == y.sizes()) << at;
      EXPECT_TRUE(torch::equal(x, y)) << at;
      break;
    }
  }
}

// One tensor per supported dtype, with values that exercise the range.
PtValue all_dtypes() {
  torch::manual_seed(3);
  PtValue d = PtValue::new_dict();
  d.set("f32", PtValue::of_tensor(torch::randn({3, 5})));
  d.set("f16", PtValue::of_tensor(torch::randn({7}).to(torch::kFloat16)));
  d.set("bf16", PtValue::of_tensor(torch::randn({2, 3}).to(torch::kBFloat16)));
  d.set("f64", PtValue::of_tensor(torch::randn({4}, torch::kFloat64)));
  d.set("i64", PtValue::of_tensor(torch::tensor({INT64_MIN, int64_t{-1}, int64_t{0}, INT64_MAX})));
  d.set("i32", PtValue::of_tensor(torch::tensor({INT32_MIN, -5, INT32_MAX})));
  d.set("i16", PtValue::of_tensor(torch::tensor({-32768, 7, 32767}).to(torch::kInt16)));
  d.set("i8", PtValue::of_tensor(torch::tensor({-128, 0, 127}).to(torch::kInt8)));
  d.set("u8", PtValue::of_tensor(torch::arange(256).to(torch::kUInt8)));
  d.set("bool", PtValue::of_tensor(torch::tensor({1, 0, 1}).to(torch::kBool)));
  d.set("scalar", PtValue::of_tensor(torch::tensor(2.5)));
  d.set("empty", PtValue::of_tensor(torch::zeros({0, 4})));
  return d;
}

TEST(PtFile, RoundTripsEveryDtype) {
  TempDir dir;
  const PtValue root = all_dtypes();
  write_pt_file(dir.file("t.pt"), root);
  expect_same_value(read_pt_file(dir.file("t.pt")), root);
}

TEST(PtFile, RoundTripsAStage1LikeTree) {
  TempDir dir;
  PtValue meta = PtValue::new_dict();
  meta.set("name", PtValue::of_string("stories260K \xE2\x9C\x93"));
  meta.set("dims", PtValue::new_list({PtValue::of_int(64), PtValue::of_int(-172), PtValue::of_int(int64_t{1} << 40)}));
  meta.set("pair", PtValue::new_tuple({PtValue::of_bool(true), PtValue::none()}));
  meta.set("lr", PtValue::of_double(3e-4));
  PtValue layers = PtValue::new_dict();
  layers.set(0, PtValue::of_tensor(torch::arange(10).to(torch::kUInt8)));
  layers.set(1, PtValue::of_tensor(torch::arange(3).to(torch::kUInt8)));
  PtValue root = PtValue::new_dict();
  root.set("format", PtValue::of_string("seedforge.stage1"));
  root.set("version", PtValue::of_int(1));
  root.set("meta", meta);
  root.set("layers", layers);
  root.set("empty_list", PtValue::new_list());
  write_pt_file(dir.file("model.stage1.pt"), root);
  const PtValue back = read_pt_file(dir.file("model.stage1.pt"));
  expect_same_value(back, root);
  EXPECT_EQ(back.at("meta").at("lr").as_double(), 3e-4);
  test::expect_input_error([&] { back.at("nope"); }, {"missing key 'nope'"});
  test::expect_input_error([&] { back.at("format").as_int(); }, {"expected a value of type int, got str"});

  // The archive folder is the file stem, as torch.save names it; data 64-byte aligned.
  ZipReader zip(dir.file("model.stage1.pt"));
  EXPECT_NE(zip.find("model.stage1/data.pkl"), nullptr);
  EXPECT_NE(zip.find("model.stage1/version"), nullptr);
  EXPECT_EQ(zip.read_string(*zip.find("model.stage1/version")), "3\n");
  for (const auto& e : zip.entries()) EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
}

TEST(PtFile, KeepsSharedStoragesAndStridedViews) {
  TempDir dir;
  const torch::Tensor base = torch::arange(24, torch::kFloat32).reshape({4, 6});
  PtValue root = PtValue::new_dict();
  root.set("base", PtValue::of_tensor(base));
  root.set("row", PtValue::of_tensor(base[2]));                // offset 12
  root.set("transposed", PtValue::of_tensor(base.t()));        // strides (1, 6)
  root.set("columns", PtValue::of_tensor(base.slice(1, 2, 5)));  // non-contiguous
  root.set("expanded", PtValue::of_tensor(torch::ones({1}).expand({5})));  // stride 0
  write_pt_file(dir.file("v.pt"), root);

  ZipReader zip(dir.file("v.pt"));
  size_t storages = 0;
  for (const auto& e : zip.entries()) storages += e.name.find("/data/") != std::string::npos;
  EXPECT_EQ(storages, 2u);  // base and its views share one storage; the expanded one has its own

  const PtValue back = read_pt_file(dir.file("v.pt"));
  expect_same_value(back, root);
  const torch::Tensor& b = back.at("base").as_tensor();
  const torch::Tensor& row = back.at("row").as_tensor();
  EXPECT_EQ(row.storage_offset(), 12);
  EXPECT_TRUE(back.at("transposed").as_tensor().strides() == base.t().strides());
  row.fill_(-1);  // sharing is kept, as torch.load keeps it
  EXPECT_EQ(b[2][0].item<float>(), -1.0f);
}

TEST(PtFile, RefusesLegacyAndForeignFiles) {
  TempDir dir;
  // torch.save(..., _use_new_zipfile_serialization=False) starts with the magic number as a pickled long.
  test::write_bytes(dir.file("legacy.pt"), test::from_hex("80028a0a6cfc9c46f9206aa85019") + std::string(100, 'x'));
  test::expect_input_error([&] { read_pt_file(dir.file("legacy.pt")); },
                           {"legacy.pt", "legacy", "torch.save", "1.6"});
  EXPECT_TRUE(looks_like_legacy_pt_file(dir.file("legacy.pt")));
  test::write_bytes(dir.file("raw.pkl"), test::from_hex("80027d71002e"));  // pickle.dumps({})
  test::expect_input_error([&] { read_pt_file(dir.file("raw.pkl")); }, {"legacy"});
  test::write_bytes(dir.file("text.pt"), "hello world, not a checkpoint");
  test::expect_input_error([&] { read_pt_file(dir.file("text.pt")); }, {"text.pt", "not a PyTorch checkpoint"});
  EXPECT_FALSE(looks_like_legacy_pt_file(dir.file("text.pt")));

  {  // a zip, but of something else
    ZipWriter w(dir.file("docs.zip"));
    w.add("docs/readme.txt", "hi", 2);
    w.finish();
  }
  test::expect_input_error([&] { read_pt_file(dir.file("docs.zip")); },
                           {"docs.zip", "not a PyTorch checkpoint", "data.pkl"});
  {
    ZipWriter w(dir.file("flat.zip"));
    w.add("data.pkl", "x", 1);
    w.finish();
  }
  test::expect_input_error([&] { read_pt_file(dir.file("flat.zip")); }, {"not inside a top-level folder"});
  {
    ZipWriter w(dir.file("two.zip"));
    w.add("a/data.pkl", "x", 1);
    w.add("b/data/0", "x", 1);
    w.finish();
  }
  test::expect_input_error([&] { read_pt_file(dir.file("two.zip")); }, {"different top-level folders"});
}

// A zip holding `pkl` as data.pkl plus the given storage records.
void write_archive(const std::string& path, const PickleValue& root,
                   const std::vector<std::pair<std::string, std::string>>& records, const std::string& byteorder = "",
                   ZipWriterOptions options = {}) {
  const std::string pkl = pickle_dumps(root);
  ZipWriter w(path, options);
  w.add("arc/data.pkl", pkl.data(), pkl.size());
  if (!byteorder.empty()) w.add("arc/byteorder", byteorder.data(), byteorder.size());
  for (const auto& r : records) w.add("arc/data/" + r.first, r.second.data(), r.second.size());
  w.finish();
}

PickleValue tensor_ref(const std::string& key, const std::string& type, int64_t numel, int64_t offset,
                       std::vector<int64_t> size, std::vector<int64_t> stride) {
  PickleValue v;
  v.kind = PickleValue::Kind::kTensor;
  v.tensor.storage_key = key;
  v.tensor.storage_type = type;
  v.tensor.location = "cpu";
  v.tensor.storage_numel = numel;
  v.tensor.storage_offset = offset;
  v.tensor.size = std::move(size);
  v.tensor.stride = std::move(stride);
  return v;
}

TEST(PtFile, RefusesBadStoragesAndViews) {
  TempDir dir;
  const std::string f4(16, '\0');  // 4 floats
  write_archive(dir.file("ok.pt"), tensor_ref("0", "FloatStorage", 4, 0, {2, 2}, {2, 1}), {{"0", f4}});
  EXPECT_NO_THROW(read_pt_file(dir.file("ok.pt")));

  write_archive(dir.file("missing.pt"), tensor_ref("0", "FloatStorage", 4, 0, {4}, {1}), {});
  test::expect_input_error([&] { read_pt_file(dir.file("missing.pt")); }, {"missing.pt", "arc/data/0", "missing"});
  write_archive(dir.file("short.pt"), tensor_ref("0", "FloatStorage", 5, 0, {4}, {1}), {{"0", f4}});
  test::expect_input_error([&] { read_pt_file(dir.file("short.pt")); }, {"arc/data/0", "16 bytes", "expected 5 x 4"});
  write_archive(dir.file("past.pt"), tensor_ref("0", "FloatStorage", 4, 1, {2, 2}, {2, 1}), {{"0", f4}});
  test::expect_input_error([&] { read_pt_file(dir.file("past.pt")); }, {"past the end of its storage of 4"});
  write_archive(dir.file("neg.pt"), tensor_ref("0", "FloatStorage", 4, 0, {2, 2}, {-1, 1}), {{"0", f4}});
  test::expect_input_error([&] { read_pt_file(dir.file("neg.pt")); }, {"negative"});
  write_archive(dir.file("bool.pt"), tensor_ref("0", "BoolStorage", 2, 0, {2}, {1}), {{"0", std::string("\x01\x07", 2)}});
  test::expect_input_error([&] { read_pt_file(dir.file("bool.pt")); }, {"bool storage", "byte 7"});
  write_archive(dir.file("big.pt"), tensor_ref("0", "FloatStorage", 4, 0, {4}, {1}), {{"0", f4}}, "big");
  test::expect_input_error([&] { read_pt_file(dir.file("big.pt")); }, {"byteorder", "big"});

  // The same storage claimed with two dtypes.
  PickleValue both;
  both.kind = PickleValue::Kind::kList;
  both.items = {tensor_ref("0", "FloatStorage", 4, 0, {4}, {1}), tensor_ref("0", "IntStorage", 4, 0, {4}, {1})};
  write_archive(dir.file("twice.pt"), both, {{"0", f4}});
  test::expect_input_error([&] { read_pt_file(dir.file("twice.pt")); }, {"storage '0' is used as both"});
}

TEST(PtFile, WriteIsAtomicAndChecksItsFolder) {
  TempDir dir;
  test::expect_error([&] { write_pt_file(dir.file("no/such/dir/x.pt"), all_dtypes()); }, ErrorKind::kUsage,
                     {"does not exist"});
  PtValue bad = PtValue::new_dict();
  bad.set("c", PtValue::of_tensor(torch::zeros({2}, torch::kComplexFloat)));
  test::expect_error([&] { write_pt_file(dir.file("c.pt"), bad); }, ErrorKind::kRuntime, {"ComplexFloat"});
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));  // nothing half-written
}


// A deflated record stays inflated until every byte of it has been released
// through its views, whatever the order, overlaps and repeats; then it is
// freed, and a later view inflates it again with the same bytes. A stored
// record is never copied.
TEST(PtArchive, FreesAnInflatedRecordOnceEveryByteIsReleased) {
  TempDir dir;
  std::string zeros(4000, '\0');  // deflates to a few bytes
  for (size_t i = 0; i < zeros.size(); i += 7) zeros[i] = static_cast<char>(i % 5);
  std::string noise(64, '\0');  // deflate cannot shrink it: stored
  std::mt19937 rng(7);
  for (auto& c : noise) c = static_cast<char>(rng());
  PickleValue list;
  list.kind = PickleValue::Kind::kList;
  // Views of record "0": bytes [0, 1500), [1000, 2500) and [2500, 4000); "1" is stored.
  list.items = {tensor_ref("0", "ByteStorage", 4000, 0, {1500}, {1}), tensor_ref("0", "ByteStorage", 4000, 1000, {1500}, {1}),
                tensor_ref("0", "ByteStorage", 4000, 2500, {1500}, {1}), tensor_ref("1", "ByteStorage", 64, 0, {64}, {1})};
  ZipWriterOptions deflate;
  deflate.deflate = true;
  write_archive(dir.file("d.pt"), list, {{"0", zeros}, {"1", noise}}, "", deflate);
  ZipReader zip(dir.file("d.pt"));
  ASSERT_TRUE(zip.is_inflated(*zip.find("arc/data/0")));
  ASSERT_FALSE(zip.is_inflated(*zip.find("arc/data/1")));

  PtArchive archive(dir.file("d.pt"));
  const auto& views = archive.root().items;
  auto bytes = [&](size_t i) {
    const PtStorage s = archive.view(views[i].tensor);
    return std::string(reinterpret_cast<const char*>(s.bytes) + views[i].tensor.storage_offset, views[i].tensor.size[0]);
  };
  auto release = [&](size_t i) {
    const PtStorage s = archive.view(views[i].tensor);
    archive.release(s.bytes + views[i].tensor.storage_offset, static_cast<size_t>(views[i].tensor.size[0]));
  };
  EXPECT_EQ(bytes(3), noise);
  EXPECT_EQ(archive.inflated_bytes(), 0u) << "a stored record is read in place";
  EXPECT_EQ(bytes(0), zeros.substr(0, 1500));
  EXPECT_EQ(archive.inflated_bytes(), 4000u);
  release(2);
  release(2);  // a repeat counts once
  release(3);  // the stored record: its pages only
  EXPECT_EQ(archive.inflated_bytes(), 4000u);
  release(1);  // [1000, 4000) released
  EXPECT_EQ(archive.inflated_bytes(), 4000u) << "bytes [0, 1000) are still to be read";
  EXPECT_EQ(bytes(0), zeros.substr(0, 1500));
  release(0);
  EXPECT_EQ(archive.inflated_bytes(), 0u) << "every byte released: the copy is freed";
  EXPECT_EQ(bytes(1), zeros.substr(1000, 1500)) << "inflated again";
  EXPECT_EQ(archive.inflated_bytes(), 4000u);
  EXPECT_EQ(bytes(3), noise);
}

}  // namespace
}  // namespace seedforge
