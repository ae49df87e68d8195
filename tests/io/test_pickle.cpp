// The restricted unpickler and the protocol-2 pickler: round trips, pickles
// produced by CPython itself (protocols 2 and 4, with memo opcodes), and the
// refusals that keep a weights file from running code.
#include <gtest/gtest.h>

#include <climits>

#include "io/pickle.h"
#include "io_test_util.h"

namespace seedforge {
namespace {

PickleValue none() { return PickleValue(); }
PickleValue integer(int64_t v) {
  PickleValue p;
  p.kind = PickleValue::Kind::kInt;
  p.integer = v;
  return p;
}
PickleValue real(double v) {
  PickleValue p;
  p.kind = PickleValue::Kind::kFloat;
  p.real = v;
  return p;
}
PickleValue boolean(bool v) {
  PickleValue p;
  p.kind = PickleValue::Kind::kBool;
  p.boolean = v;
  return p;
}
PickleValue str(const std::string& v) {
  PickleValue p;
  p.kind = PickleValue::Kind::kString;
  p.string = v;
  return p;
}
PickleValue seq(PickleValue::Kind kind, std::vector<PickleValue> items) {
  PickleValue p;
  p.kind = kind;
  p.items = std::move(items);
  return p;
}
PickleValue dict(std::vector<std::pair<PickleValue, PickleValue>> entries) {
  PickleValue p;
  p.kind = PickleValue::Kind::kDict;
  p.entries = std::move(entries);
  return p;
}

// Structural equality, with a path in the failure message.
void expect_same(const PickleValue& a, const PickleValue& b, const std::string& at = "root") {
  ASSERT_EQ(static_cast<int>(a.kind), static_cast<int>(b.kind)) << at;
  switch (a.kind) {
    case PickleValue::Kind::kNone: break;
    case PickleValue::Kind::kBool: EXPECT_EQ(a.boolean, b.boolean) << at; break;
    case PickleValue::Kind::kInt: EXPECT_EQ(a.integer, b.integer) << at; break;
    case PickleValue::Kind::kFloat: EXPECT_EQ(a.real, b.real) << at; break;
    case PickleValue::Kind::kString: EXPECT_EQ(a.string, b.string) << at; break;
    case PickleValue::Kind::kList:
    case PickleValue::Kind::kTuple:
      ASSERT_EQ(a.items.size(), b.items.size()) << at;
      for (size_t i = 0; i < a.items.size(); ++i) expect_same(a.items[i], b.items[i], at + "[" + std::to_string(i) + "]");
      break;
    case PickleValue::Kind::kDict:
      ASSERT_EQ(a.entries.size(), b.entries.size()) << at;
      for (size_t i = 0; i < a.entries.size(); ++i) {
        expect_same(a.entries[i].first, b.entries[i].first, at + ".key" + std::to_string(i));
        expect_same(a.entries[i].second, b.entries[i].second, at + ".value" + std::to_string(i));
      }
      break;
    case PickleValue::Kind::kTensor:
      EXPECT_EQ(a.tensor.storage_key, b.tensor.storage_key) << at;
      EXPECT_EQ(a.tensor.storage_type, b.tensor.storage_type) << at;
      EXPECT_EQ(a.tensor.storage_numel, b.tensor.storage_numel) << at;
      EXPECT_EQ(a.tensor.storage_offset, b.tensor.storage_offset) << at;
      EXPECT_EQ(a.tensor.size, b.tensor.size) << at;
      EXPECT_EQ(a.tensor.stride, b.tensor.stride) << at;
      break;
  }
}

PickleValue parse(const std::string& bytes) {
  return unpickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test.pkl");
}

TEST(Pickle, RoundTripsEveryKind) {
  PickleValue t;
  t.kind = PickleValue::Kind::kTensor;
  t.tensor.storage_key = "0";
  t.tensor.storage_type = "BFloat16Storage";
  t.tensor.location = "cpu";
  t.tensor.storage_numel = 24;
  t.tensor.storage_offset = 6;
  t.tensor.size = {3, 2};
  t.tensor.stride = {1, 3};
  std::vector<PickleValue> ints;
  for (int64_t v : std::vector<int64_t>{0, 1, 255, 256, 65535, 65536, -1, -256, INT32_MAX, INT32_MIN,
                                        int64_t{INT32_MAX} + 1, int64_t{INT32_MIN} - 1, int64_t{1} << 40,
                                        -(int64_t{1} << 40), 0x7F00000000LL, INT64_MAX, INT64_MIN}) {
    ints.push_back(integer(v));
  }
  std::vector<PickleValue> many;
  for (int i = 0; i < 2500; ++i) many.push_back(integer(i));  // more than one APPENDS batch
  const PickleValue root = dict({
      {str("format"), str("seedforge.stage1")},
      {str("unicode"), str("h\xC3\xA9llo \xE2\x9C\x93 \xF0\x9F\x98\x80")},
      {str("ints"), seq(PickleValue::Kind::kList, ints)},
      {str("many"), seq(PickleValue::Kind::kList, many)},
      {str("floats"), seq(PickleValue::Kind::kTuple, {real(1.5), real(-0.0), real(1e300), real(3.141592653589793)})},
      {str("flags"), seq(PickleValue::Kind::kTuple, {boolean(true), boolean(false), none()})},
      {str("tuples"), seq(PickleValue::Kind::kList, {seq(PickleValue::Kind::kTuple, {}),
                                                      seq(PickleValue::Kind::kTuple, {integer(1)}),
                                                      seq(PickleValue::Kind::kTuple, {integer(1), integer(2)}),
                                                      seq(PickleValue::Kind::kTuple, {integer(1), integer(2), integer(3)}),
                                                      seq(PickleValue::Kind::kTuple, {integer(1), integer(2), integer(3), integer(4)})})},
      {integer(7), dict({{integer(-3), str("int keys")}})},
      {str("tensor"), t},
      {str("empty"), dict({})},
  });
  expect_same(parse(pickle_dumps(root)), root);
}

// pickle.dumps({'a': [1, 2, (3, 'x')], 'b': None, 'c': 1.5, 'd': True, 'e': -5, 'f': 2**40,
//               'g': -(2**63), 'h': 'héllo', 7: (), 'k': [], 'l': (1, 2, 3, 4)}, protocol=P)
// from CPython 3.11: an independent writer, using BINPUT/MEMOIZE/FRAME.
const char* kCPythonProto2 =
    "80027d71002858010000006171015d7102284b014b024b0358010000007871038671046558010000006271054e5801000000637106473ff8"
    "00000000000058010000006471078858010000006571084afbffffff58010000006671098a06000000000001580100000067710a8a0800"
    "00000000000080580100000068710b580600000068c3a96c6c6f710c4b072958010000006b710d5d710e58010000006c710f284b014b02"
    "4b034b04747110752e";
const char* kCPythonProto4 =
    "80049578000000000000007d94288c0161945d94284b014b024b038c0178948694658c0162944e8c016394473ff80000000000008c0164"
    "94888c0165944afbffffff8c0166948a060000000000018c0167948a0800000000000000808c0168948c0668c3a96c6c6f944b07298c01"
    "6b945d948c016c94284b014b024b034b047494752e";

TEST(Pickle, ReadsCPythonOutput) {
  const PickleValue expected = dict({
      {str("a"), seq(PickleValue::Kind::kList, {integer(1), integer(2), seq(PickleValue::Kind::kTuple, {integer(3), str("x")})})},
      {str("b"), none()},
      {str("c"), real(1.5)},
      {str("d"), boolean(true)},
      {str("e"), integer(-5)},
      {str("f"), integer(int64_t{1} << 40)},
      {str("g"), integer(INT64_MIN)},
      {str("h"), str("h\xC3\xA9llo")},
      {integer(7), seq(PickleValue::Kind::kTuple, {})},
      {str("k"), seq(PickleValue::Kind::kList, {})},
      {str("l"), seq(PickleValue::Kind::kTuple, {integer(1), integer(2), integer(3), integer(4)})},
  });
  expect_same(parse(test::from_hex(kCPythonProto2)), expected);
  expect_same(parse(test::from_hex(kCPythonProto4)), expected);
}

TEST(Pickle, RefusesGlobalsOutsideTheAllowlist) {
  // pickle of os.system("echo pwned"): GLOBAL posix.system, args, REDUCE.
  const std::string system_call = test::from_hex("8002") + "cposix\nsystem\n" + test::from_hex("7100580a000000") +
                                  "echo pwned" + test::from_hex("7101857102") + "R.";
  const std::string msg = test::expect_input_error([&] { parse(system_call); }, {"refused global 'posix.system'", "test.pkl"});
  EXPECT_NE(msg.find("offset 2:"), std::string::npos) << "must fail at the GLOBAL (offset 2), before REDUCE: " << msg;
  // STACK_GLOBAL (protocol 4) is checked the same way.
  const std::string stack_global = test::from_hex("80048c08") + "builtins" + test::from_hex("8c04") + "eval" + test::from_hex("93") + ".";
  test::expect_input_error([&] { parse(stack_global); }, {"refused global 'builtins.eval'"});
  // A pickled module: advice to save the state dict.
  test::expect_input_error([&] { parse(test::from_hex("8002") + "c__main__\nNet\n)\x81."); },
                           {"'__main__.Net'", "model.state_dict()"});
  test::expect_input_error([&] { parse(test::from_hex("8002") + "ctorch.nn.modules.linear\nLinear\n)\x81."); },
                           {"torch.nn.modules.linear.Linear", "model.state_dict()"});
  // Storage classes are allowed as names but cannot be called.
  test::expect_input_error([&] { parse(test::from_hex("8002") + "ctorch\nFloatStorage\n)R."); }, {"not supported"});
}

TEST(Pickle, RejectsMalformedStreams) {
  const std::string good = test::from_hex(kCPythonProto2);
  test::expect_input_error([&] { parse(good.substr(0, good.size() - 10)); }, {"test.pkl", "truncated"});
  test::expect_input_error([&] { parse(""); }, {"truncated"});
  test::expect_input_error([&] { parse(test::from_hex("8002") + "t."); }, {"no MARK"});
  test::expect_input_error([&] { parse(test::from_hex("8002") + "0."); }, {"stack underflow"});
  test::expect_input_error([&] { parse(test::from_hex("8002") + "h\x05."); }, {"memo key 5"});
  test::expect_input_error([&] { parse(test::from_hex("8002") + "I1\n."); }, {"unsupported pickle opcode 0x49"});
  test::expect_input_error([&] { parse(test::from_hex("8002") + "]K\x01K\x02s."); }, {"not a dict"});
  test::expect_input_error([&] { parse(test::from_hex("8002") + "}K\x01" "a."); }, {"not a list"});
  test::expect_input_error([&] { parse(test::from_hex("8002") + "}" + ")" + "K\x01" "s."); }, {"dict key of type tuple"});
  test::expect_input_error([&] { parse(test::from_hex("8002") + "X" + test::from_hex("02000000fffe") + "."); }, {"UTF-8"});
  // PyTorch's legacy magic number is a 10-byte LONG1.
  test::expect_input_error([&] { parse(test::from_hex("80028a0a6cfc9c46f9206aa85019")); }, {"does not fit 64 bits"});
  test::expect_input_error([&] { parse(test::from_hex("8009") + "N."); }, {"protocol 9"});
  // Deep nesting and a list that contains itself.
  test::expect_input_error([&] { parse(test::from_hex("8002") + std::string(600, ']') + std::string(599, 'a') + "."); },
                           {"deeper than"});
  test::expect_input_error([&] { parse(test::from_hex("8002") + "]q" + test::from_hex("00") + "h" + test::from_hex("00") + "a."); }, {"deeper than"});
  // A persistent id that is not a storage.
  test::expect_input_error([&] { parse(test::from_hex("8002") + "X" + test::from_hex("01000000") + "xQ."); }, {"persistent id"});
}

TEST(Pickle, WriterRejectsWhatPythonCouldNotRead) {
  test::expect_error([&] { pickle_dumps(str("\xff")); }, ErrorKind::kRuntime, {"UTF-8"});
  test::expect_error([&] { pickle_dumps(dict({{none(), integer(1)}})); }, ErrorKind::kRuntime, {"str or int"});
}

}  // namespace
}  // namespace seedforge
