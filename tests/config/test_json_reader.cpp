// The generic pieces under the config parser: edit distance, hints, strict parse.
#include <gtest/gtest.h>

#include "common/error.h"
#include "config/json_reader.h"

namespace seedforge {
namespace {

TEST(EditDistance, KnownValues) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);  // the textbook example
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("flaw", "lawn"), 2u);
  EXPECT_EQ(edit_distance("same", "same"), 0u);
  EXPECT_EQ(edit_distance("ab", "ba"), 2u);  // plain Levenshtein: a swap is two edits
}

TEST(ClosestKey, PicksNearestWithinLimit) {
  const std::vector<std::string> keys = {"bitnet.lr", "bitnet.epochs", "bitnet.seed"};
  EXPECT_EQ(closest_key("bitnet.lrr", keys, 1), "bitnet.lr");
  EXPECT_EQ(closest_key("bitnet.epoch", keys, 1), "bitnet.epochs");
  EXPECT_EQ(closest_key("bitnet.zzzzzz", keys, 2), "");
  EXPECT_EQ(closest_key("x", {}, 5), "");
}

TEST(ParseJsonStrict, ReportsLineAndByte) {
  try {
    parse_json_strict("{\n  \"a\": 1,\n  \"b\": ]\n}", "f.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("f.json: invalid JSON (byte ", 0), 0u) << what;
    EXPECT_NE(what.find("line 3"), std::string::npos) << what;
  }
}

TEST(ParseJsonStrict, RefusesDuplicateKeysWithPath) {
  try {
    parse_json_strict(R"({"s": {"k": 1, "k": 2}})", "f.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "f.json: duplicate key 's.k'");
  }
  // The same key in different objects is fine.
  EXPECT_NO_THROW(parse_json_strict(R"({"a": {"k": 1}, "b": {"k": 2}, "c": [{"k": 1}, {"k": 2}]})", "f.json"));
}

}  // namespace
}  // namespace seedforge
