// Cross-checks against Debian's python3-torch (SEEDFORGE_PYTHON): files our
// writers produce are opened by torch.load(weights_only=True) and Python's
// zipfile; files torch.save produces (plain, wrapped, fp16/bf16, prefixed, a
// real nn.Module state dict with its _metadata) load here with the same
// values; malicious or legacy pickles are refused without running anything;
// safetensors written by an independent Python encoder read back exactly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/pt_file.h"
#include "io/pt_state_dict.h"
#include "io/safetensors.h"
#include "io/zip_archive.h"
#include "io_test_model.h"
#include "io_test_util.h"

namespace seedforge {
namespace {

using test::TempDir;

// Raw bytes of a tensor, contiguous, for Python to compare against.
void dump_raw(const torch::Tensor& t, const std::string& path) {
  const torch::Tensor c = t.contiguous();
  test::write_bytes(path, std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
}

// Python writes expected values as float64 (float and bool dtypes) or int64
// (integer dtypes) into <file>; manifest: {name: {"dtype", "shape", "file", "kind"}}.
void expect_matches_manifest(const TempDir& dir, const std::string& manifest_name,
                             const std::function<torch::Tensor(const std::string&)>& lookup) {
  const nlohmann::json manifest = nlohmann::json::parse(test::read_bytes(dir.file(manifest_name)));
  ASSERT_FALSE(manifest.empty());
  for (const auto& item : manifest.items()) {
    const std::string& name = item.key();
    const auto& info = item.value();
    const torch::Tensor t = lookup(name);
    ASSERT_TRUE(t.defined()) << name;
    EXPECT_EQ(t.sizes().vec(), info.at("shape").get<std::vector<int64_t>>()) << name;
    const bool as_int = info.at("kind").get<std::string>() == "i64";
    const torch::Tensor got = t.to(as_int ? torch::kInt64 : torch::kFloat64).contiguous();
    const std::string expected = test::read_bytes(dir.file(info.at("file").get<std::string>()));
    ASSERT_EQ(expected.size(), static_cast<size_t>(got.numel()) * 8) << name;
    if (!expected.empty()) {
      EXPECT_EQ(std::memcmp(got.data_ptr(), expected.data(), expected.size()), 0) << name << " values differ";
    }
  }
}

const char* kPythonCommon = R"PY(
import json, os, struct, sys, pickle, collections
import torch

def expect(obj, prefix, manifest, name, out_dir):
    t = obj.detach()
    kind = "i64" if (not t.is_floating_point() and t.dtype != torch.bool) else "f64"
    data = t.to(torch.int64 if kind == "i64" else torch.float64).contiguous().numpy().tobytes()
    fname = "exp_%s_%d.bin" % (prefix, len(manifest))
    open(os.path.join(out_dir, fname), "wb").write(data)
    manifest[name] = {"dtype": str(t.dtype), "shape": list(t.shape), "file": fname, "kind": kind}

def tiny_llama(dim=16, hidden=40, layers=2, heads=4, kv=2, vocab=32, tied=True):
    g = torch.Generator().manual_seed(7)
    D = dim // heads
    sd = collections.OrderedDict()
    sd["model.embed_tokens.weight"] = torch.randn(vocab, dim, generator=g)
    for i in range(layers):
        p = "model.layers.%d." % i
        sd[p + "input_layernorm.weight"] = torch.randn(dim, generator=g)
        sd[p + "self_attn.q_proj.weight"] = torch.randn(heads * D, dim, generator=g)
        sd[p + "self_attn.k_proj.weight"] = torch.randn(kv * D, dim, generator=g)
        sd[p + "self_attn.v_proj.weight"] = torch.randn(kv * D, dim, generator=g)
        sd[p + "self_attn.o_proj.weight"] = torch.randn(dim, heads * D, generator=g)
        sd[p + "post_attention_layernorm.weight"] = torch.randn(dim, generator=g)
        sd[p + "mlp.gate_proj.weight"] = torch.randn(hidden, dim, generator=g)
        sd[p + "mlp.up_proj.weight"] = torch.randn(hidden, dim, generator=g)
        sd[p + "mlp.down_proj.weight"] = torch.randn(dim, hidden, generator=g)
    sd["model.norm.weight"] = torch.randn(dim, generator=g)
    if not tied:
        sd["lm_head.weight"] = torch.randn(vocab, dim, generator=g)
    return sd

HF_CONFIG = {"architectures": ["LlamaForCausalLM"], "hidden_size": 16, "intermediate_size": 40,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 32,
             "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
             "tie_word_embeddings": True}
)PY";

int run(const TempDir& dir, const std::string& name, const std::string& body, const std::string& args, std::string* log) {
  return test::run_python(dir, name, std::string(kPythonCommon) + body, args, log);
}

TEST(PtPython, OurFilesOpenWithTorchLoadWeightsOnly) {
  TempDir dir;
  torch::manual_seed(11);
  const torch::Tensor base = torch::arange(24, torch::kFloat32).reshape({4, 6});
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"f32", torch::randn({3, 5})},
      {"f16", torch::randn({7}).to(torch::kFloat16)},
      {"bf16", torch::randn({2, 3}).to(torch::kBFloat16)},
      {"f64", torch::randn({4}, torch::kFloat64)},
      {"i64", torch::tensor({INT64_MIN, int64_t{-1}, int64_t{0}, INT64_MAX})},
      {"i32", torch::tensor({INT32_MIN, -5, INT32_MAX})},
      {"i16", torch::tensor({-32768, 7, 32767}).to(torch::kInt16)},
      {"i8", torch::tensor({-128, 0, 127}).to(torch::kInt8)},
      {"u8", torch::arange(256).to(torch::kUInt8)},
      {"bool", torch::tensor({1, 0, 1}).to(torch::kBool)},
      {"scalar", torch::tensor(2.5)},
      {"base", base},
      {"row", base[2]},
      {"transposed", base.t()},
      {"columns", base.slice(1, 2, 5)},
  };
  PtValue root = PtValue::new_dict();
  PtValue t = PtValue::new_dict();
  for (const auto& [name, tensor] : tensors) {
    t.set(name, PtValue::of_tensor(tensor));
    dump_raw(tensor, dir.file(name + ".raw"));
  }
  root.set("tensors", t);
  root.set("empty", PtValue::of_tensor(torch::zeros({0, 4})));
  PtValue meta = PtValue::new_dict();
  meta.set("name", PtValue::of_string("stories260K \xE2\x9C\x93"));
  std::vector<PtValue> ints;
  for (int64_t v : std::vector<int64_t>{0, 255, 256, 65536, -1, -70000, int64_t{1} << 40, INT64_MIN, INT64_MAX}) {
    ints.push_back(PtValue::of_int(v));
  }
  meta.set("ints", PtValue::new_list(ints));
  meta.set("flags", PtValue::new_tuple({PtValue::of_bool(true), PtValue::of_bool(false), PtValue::none()}));
  PtValue by_id = PtValue::new_dict();
  by_id.set(0, PtValue::of_string("zero"));
  by_id.set(1, PtValue::of_string("one"));
  meta.set("by_id", by_id);
  root.set("meta", meta);
  write_pt_file(dir.file("ours.pt"), root);
  write_pt_file(dir.file("ours_deflated.pt"), root, /*deflate_entries=*/true);

  const std::string script = R"PY(
import itertools, zipfile
out = sys.argv[1]
z = zipfile.ZipFile(os.path.join(out, "ours_deflated.pt"))
assert any(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist()), "nothing deflated"
for file, weights_only in itertools.product(("ours.pt", "ours_deflated.pt"), (True, False)):
    d = torch.load(os.path.join(out, file), weights_only=weights_only)
    for name, t in d["tensors"].items():
        raw = bytearray(open(os.path.join(out, name + ".raw"), "rb").read())
        exp = torch.frombuffer(raw, dtype=t.dtype).reshape(t.shape) if len(raw) else torch.empty(t.shape, dtype=t.dtype)
        assert t.dtype == exp.dtype and torch.equal(t, exp), name
    ts = d["tensors"]
    assert ts["row"].storage_offset() == 12 and ts["transposed"].stride() == (1, 6)
    assert ts["row"].storage().data_ptr() == ts["base"].storage().data_ptr(), "storage not shared"
    assert ts["f16"].dtype == torch.float16 and ts["bf16"].dtype == torch.bfloat16 and ts["bool"].dtype == torch.bool
    assert d["empty"].shape == (0, 4)
    m = d["meta"]
    assert m["name"] == "stories260K \u2713", m["name"]
    assert m["ints"] == [0, 255, 256, 65536, -1, -70000, 2**40, -(2**63), 2**63 - 1], m["ints"]
    assert m["flags"] == (True, False, None)
    assert m["by_id"] == {0: "zero", 1: "one"}
print("OK", torch.__version__)
)PY";
  std::string log;
  EXPECT_EQ(run(dir, "check_ours.py", script, "'" + dir.path() + "'", &log), 0) << log;
  EXPECT_NE(log.find("OK"), std::string::npos) << log;
}

TEST(PtPython, FloatsNeedWeightsOnlyFalseOnTorch1) {
  TempDir dir;
  PtValue root = PtValue::new_dict();
  root.set("lr", PtValue::of_double(3e-4));
  root.set("w", PtValue::of_tensor(torch::ones({2})));
  write_pt_file(dir.file("f.pt"), root);
  const std::string script = R"PY(
p = os.path.join(sys.argv[1], "f.pt")
d = torch.load(p, weights_only=False)
assert d["lr"] == 3e-4 and torch.equal(d["w"], torch.ones(2))
try:
    torch.load(p, weights_only=True)
    strict_ok = True
except Exception as e:
    strict_ok = False
# PyTorch 1.13's weights_only unpickler has no BINFLOAT (documented in pt_file.h).
assert strict_ok == (not torch.__version__.startswith("1.")), (torch.__version__, strict_ok)
print("OK")
)PY";
  std::string log;
  EXPECT_EQ(run(dir, "floats.py", script, "'" + dir.path() + "'", &log), 0) << log;
}

TEST(PtPython, TorchSavedCheckpointsLoadWithTheSameValues) {
  TempDir dir;
  const std::string script = R"PY(
out = sys.argv[1]
sd = tiny_llama()
def variant(sub, obj, canonical, config=True):
    os.makedirs(os.path.join(out, sub))
    torch.save(obj, os.path.join(out, sub, "m.pt"))
    if config:
        json.dump(HF_CONFIG, open(os.path.join(out, sub, "config.json"), "w"))
    manifest = {}
    for k, v in canonical.items():
        expect(v, sub, manifest, k, out)
    json.dump(manifest, open(os.path.join(out, sub + ".json"), "w"))

variant("plain", sd, sd)
half = collections.OrderedDict((k, v.half()) for k, v in sd.items())
variant("wrapped", {"state_dict": half, "epoch": 3,
                    "optimizer": {"state": {}, "param_groups": [{"lr": 0.001, "betas": (0.9, 0.95)}]}}, half)
bf = collections.OrderedDict(("module." + k, v.bfloat16()) for k, v in sd.items())
variant("ddp_bf16", {"model": bf}, collections.OrderedDict((k[7:], v) for k, v in bf.items()))

# A real nn.Module state dict: Parameters, an OrderedDict with _metadata, and
# rotary inv_freq buffers, without a config.json (the loader infers it).
class Attn(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.q_proj = torch.nn.Linear(16, 16, bias=False); s.k_proj = torch.nn.Linear(16, 8, bias=False)
        s.v_proj = torch.nn.Linear(16, 8, bias=False); s.o_proj = torch.nn.Linear(16, 16, bias=False)
        s.rotary_emb = torch.nn.Module()
        s.rotary_emb.register_buffer("inv_freq", 1.0 / (500000.0 ** (torch.arange(0, 4, 2).float() / 4)))
class Mlp(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.gate_proj = torch.nn.Linear(16, 40, bias=False); s.up_proj = torch.nn.Linear(16, 40, bias=False)
        s.down_proj = torch.nn.Linear(40, 16, bias=False)
class Layer(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.input_layernorm = torch.nn.Module(); s.input_layernorm.weight = torch.nn.Parameter(torch.randn(16))
        s.self_attn = Attn(); s.mlp = Mlp()
        s.post_attention_layernorm = torch.nn.Module(); s.post_attention_layernorm.weight = torch.nn.Parameter(torch.randn(16))
class Inner(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.embed_tokens = torch.nn.Embedding(32, 16)
        s.layers = torch.nn.ModuleList([Layer(), Layer()])
        s.norm = torch.nn.Module(); s.norm.weight = torch.nn.Parameter(torch.randn(16))
class Llama(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.model = Inner(); s.lm_head = torch.nn.Linear(16, 32, bias=False)
torch.manual_seed(3)
module_sd = Llama().state_dict()
assert hasattr(module_sd, "_metadata")
variant("module", module_sd, collections.OrderedDict((k, v) for k, v in module_sd.items() if "inv_freq" not in k),
        config=False)
print("OK")
)PY";
  std::string log;
  ASSERT_EQ(run(dir, "save.py", script, "'" + dir.path() + "'", &log), 0) << log;

  for (const std::string sub : {"plain", "wrapped", "ddp_bf16", "module"}) {
    SCOPED_TRACE(sub);
    const Checkpoint ck = load_pt_checkpoint(dir.file(sub + "/m.pt"));
    expect_matches_manifest(dir, sub + ".json", [&](const std::string& name) {
      for (const auto& kv : ck.tensors) {
        if (kv.first == name) {
          EXPECT_EQ(kv.second.scalar_type(), torch::kFloat32);
          return kv.second;
        }
      }
      return torch::Tensor();
    });
    const size_t expected = nlohmann::json::parse(test::read_bytes(dir.file(sub + ".json"))).size();
    EXPECT_EQ(ck.tensors.size(), expected);
    EXPECT_EQ(ck.config.dim, 16);
    EXPECT_EQ(ck.config.n_heads, 4);
    EXPECT_EQ(ck.config.n_kv_heads, 2);
    EXPECT_EQ(ck.config.n_layers, 2);
    EXPECT_EQ(ck.config.vocab_size, 32);
    EXPECT_EQ(ck.config.hidden_dim, 40);
    EXPECT_NO_THROW(build_model(ck.config, ck.tensors, sub));
    if (sub == "module") {
      EXPECT_EQ(ck.config.rope_theta, 500000.0);  // from inv_freq
      EXPECT_FALSE(ck.config.tie_embeddings);
    }
  }
  // The raw tree keeps fp16 dtypes and the wrapper's other entries.
  const PtValue wrapped = read_pt_file(dir.file("wrapped/m.pt"));
  EXPECT_EQ(wrapped.at("epoch").as_int(), 3);
  EXPECT_EQ(wrapped.at("optimizer").at("param_groups").items()[0].at("lr").as_double(), 0.001);
  EXPECT_EQ(wrapped.at("state_dict").at("model.norm.weight").as_tensor().scalar_type(), torch::kFloat16);
}

TEST(PtPython, SharedStoragesAndAllDtypesFromTorchSave) {
  TempDir dir;
  const std::string script = R"PY(
out = sys.argv[1]
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
obj = {"base": base, "row": base[1], "t": base.t(), "cols": base[:, 1:3], "expanded": torch.ones(1).expand(5),
       "f16": torch.randn(5).half(), "bf16": torch.randn(2, 3).bfloat16(), "f64": torch.randn(3).double(),
       "i64": torch.tensor([-(2**63), 2**63 - 1]), "i32": torch.tensor([-7, 9], dtype=torch.int32),
       "i16": torch.tensor([-300, 300], dtype=torch.int16), "i8": torch.tensor([-128, 127], dtype=torch.int8),
       "u8": torch.arange(256, dtype=torch.uint8), "bool": torch.tensor([True, False]),
       "param": torch.nn.Parameter(torch.randn(3)), "scalar": torch.tensor(4.5)}
torch.save(obj, os.path.join(out, "shared.pt"))
manifest = {}
for k, v in obj.items():
    expect(v, "shared", manifest, k, out)
json.dump(manifest, open(os.path.join(out, "shared.json"), "w"))
print("OK")
)PY";
  std::string log;
  ASSERT_EQ(run(dir, "shared.py", script, "'" + dir.path() + "'", &log), 0) << log;
  const PtValue root = read_pt_file(dir.file("shared.pt"));
  expect_matches_manifest(dir, "shared.json", [&](const std::string& name) { return root.at(name).as_tensor(); });
  EXPECT_EQ(root.at("row").as_tensor().storage_offset(), 6);
  EXPECT_EQ(root.at("f16").as_tensor().scalar_type(), torch::kFloat16);
  EXPECT_EQ(root.at("bf16").as_tensor().scalar_type(), torch::kBFloat16);
  EXPECT_EQ(root.at("bool").as_tensor().scalar_type(), torch::kBool);
  EXPECT_EQ(root.at("row").as_tensor().data_ptr<float>(), root.at("base").as_tensor().data_ptr<float>() + 6);
}

TEST(PtPython, MaliciousAndLegacyPicklesAreRefusedWithoutRunningAnything) {
  TempDir dir;
  const std::string marker = dir.file("PWNED");
  const std::string script = R"PY(
out, marker = sys.argv[1], sys.argv[2]
class Evil:
    def __reduce__(self):
        return (os.system, ("touch '%s'" % marker,))
torch.save({"w": torch.zeros(2), "x": Evil()}, os.path.join(out, "evil.pt"))
open(os.path.join(out, "evil.pkl"), "wb").write(pickle.dumps({"x": Evil()}, protocol=2))
torch.save(torch.nn.Linear(2, 2), os.path.join(out, "module.pt"))
torch.save({"w": torch.zeros(2)}, os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)
assert not os.path.exists(marker)  # saving runs nothing
print("OK")
)PY";
  std::string log;
  ASSERT_EQ(run(dir, "evil.py", script, "'" + dir.path() + "' '" + marker + "'", &log), 0) << log;
  ASSERT_FALSE(std::filesystem::exists(marker));

  test::expect_input_error([&] { read_pt_file(dir.file("evil.pt")); }, {"evil.pt", "refused global 'posix.system'"});
  test::expect_input_error([&] { load_pt_checkpoint(dir.file("evil.pt")); }, {"posix.system"});
  test::expect_input_error([&] { read_pt_file(dir.file("evil.pkl")); }, {"evil.pkl", "legacy", "torch.save"});
  test::expect_input_error([&] { read_pt_file(dir.file("module.pt")); },
                           {"module.pt", "torch.nn.modules.linear.Linear", "model.state_dict()"});
  test::expect_input_error([&] { read_pt_file(dir.file("legacy.pt")); }, {"legacy.pt", "legacy", "1.6"});
  EXPECT_FALSE(std::filesystem::exists(marker)) << "a refused pickle ran code";
}

TEST(PtPython, SafetensorsAgreeWithAnIndependentPythonCodec) {
  TempDir dir;
  // Python encoder -> our reader. The header is padded to leave the data misaligned.
  const std::string writer = R"PY(
out = sys.argv[1]
torch.manual_seed(5)
tensors = {"w32": torch.randn(3, 4), "w16": torch.randn(5).half(), "wbf": torch.randn(2, 3).bfloat16(),
           "i64": torch.tensor([-(2**62), 5]), "u8": torch.arange(10, dtype=torch.uint8), "e": torch.zeros(0, 2)}
names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64", torch.uint8: "U8"}
header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
for k, t in tensors.items():
    same = {2: torch.int16, 4: torch.int32, 8: torch.int64, 1: torch.uint8}[t.element_size()]
    b = t.contiguous().view(same).numpy().tobytes()
    header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)
h = json.dumps(header).encode()
h += b" " * ((13 - len(h) % 8) % 8)   # 8 + len(h) = 5 mod 8: misaligned on purpose
assert (8 + len(h)) % 4 != 0
open(os.path.join(out, "py.safetensors"), "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
manifest = {}
for k, t in tensors.items():
    expect(t, "py", manifest, k, out)
json.dump(manifest, open(os.path.join(out, "py.json"), "w"))
print("OK")
)PY";
  std::string log;
  ASSERT_EQ(run(dir, "st_write.py", writer, "'" + dir.path() + "'", &log), 0) << log;
  SafetensorsReader reader(dir.file("py.safetensors"));
  EXPECT_EQ(reader.metadata().at("format"), "pt");
  expect_matches_manifest(dir, "py.json", [&](const std::string& name) { return reader.tensor(*reader.find(name)); });

  // Our writer -> a Python decoder.
  torch::manual_seed(6);
  const StateDict sd = {{"a", torch::randn({2, 3})}, {"b", torch::randn({4}).to(torch::kBFloat16)},
                        {"c", torch::tensor({1, -2, 3})}, {"d", torch::randn({3}).to(torch::kFloat16)}};
  write_safetensors(dir.file("ours.safetensors"), sd);
  for (const auto& kv : sd) dump_raw(kv.second, dir.file(kv.first + ".raw"));
  const std::string decoder = R"PY(
out = sys.argv[1]
blob = open(os.path.join(out, "ours.safetensors"), "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + n].decode("utf-8"))
assert header.pop("__metadata__") == {"format": "pt"}
assert (8 + n) % 8 == 0
dt = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}
assert list(header) == ["a", "b", "c", "d"], list(header)
for k, info in header.items():
    b, e = info["data_offsets"]
    t = torch.frombuffer(bytearray(blob[8 + n + b: 8 + n + e]), dtype=dt[info["dtype"]]).reshape(info["shape"])
    exp = torch.frombuffer(bytearray(open(os.path.join(out, k + ".raw"), "rb").read()), dtype=t.dtype).reshape(t.shape)
    assert torch.equal(t, exp), k
print("OK")
)PY";
  EXPECT_EQ(run(dir, "st_read.py", decoder, "'" + dir.path() + "'", &log), 0) << log;
}

// Python's zipfile (zlib underneath) reads what ZipWriter writes, stored and
// deflated, and ZipReader reads what zipfile deflates.
TEST(PtPython, ZipfileAcceptsOurArchivesIncludingZip64AndDeflate) {
  TempDir dir;
  const std::string big(100000, 'q');
  for (const bool zip64 : {false, true}) {
    for (const bool deflate : {false, true}) {
      ZipWriterOptions options;
      options.force_zip64 = zip64;
      options.deflate = deflate;
      ZipWriter w(dir.file(std::string(zip64 ? "z64" : "z") + (deflate ? "d" : "") + ".zip"), options);
      w.add("arc/data.pkl", "hello", 5);
      w.add("arc/data/0", big.data(), big.size());
      w.add("arc/version", "3\n", 2);
      w.finish();
    }
  }
  const std::string script = R"PY(
import zipfile
for name in ("z.zip", "z64.zip", "zd.zip", "z64d.zip"):
    z = zipfile.ZipFile(os.path.join(sys.argv[1], name))
    assert z.testzip() is None, name   # reads every entry and checks its CRC
    assert z.namelist() == ["arc/data.pkl", "arc/data/0", "arc/version"], z.namelist()
    assert z.read("arc/data/0") == b"q" * 100000 and z.read("arc/data.pkl") == b"hello"
    big = z.getinfo("arc/data/0")
    expected = zipfile.ZIP_DEFLATED if "d" in name else zipfile.ZIP_STORED
    assert big.compress_type == expected and (big.compress_size < 1000) == ("d" in name), (name, big.compress_size)
    assert z.getinfo("arc/data.pkl").compress_type == zipfile.ZIP_STORED, "5 bytes do not shrink"
with zipfile.ZipFile(os.path.join(sys.argv[1], "py.zip"), "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
    z.writestr("arc/data/0", b"q" * 100000 + bytes(range(256)) * 40)
    z.writestr("arc/version", b"3\n")
print("OK")
)PY";
  std::string log;
  ASSERT_EQ(run(dir, "zip.py", script, "'" + dir.path() + "'", &log), 0) << log;
  ZipReader py(dir.file("py.zip"));
  ASSERT_EQ(py.entries().size(), 2u);
  EXPECT_EQ(py.entries()[0].method, 8);
  std::string expected = big;
  for (int i = 0; i < 40; ++i) {
    for (int b = 0; b < 256; ++b) expected.push_back(static_cast<char>(b));
  }
  EXPECT_EQ(py.read_string(py.entries()[0]), expected);
  EXPECT_EQ(py.read_string(py.entries()[1]), "3\n");
}

}  // namespace
}  // namespace seedforge
