// json_document_test.cpp: JsonDocument parses like nlohmann::json, keeps order, and refuses what
// it documents (invalid JSON, duplicate keys when asked, deep nesting).
#include "core/json_document.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kvc {
namespace {

JsonDocument parsed(std::string_view text, DuplicateKeys duplicates = DuplicateKeys::kReject) {
  JsonDocument document;
  std::string error;
  EXPECT_TRUE(document.parse(text, duplicates, &error)) << text << ": " << error;
  return document;
}

std::string error_of(std::string_view text, DuplicateKeys duplicates = DuplicateKeys::kReject) {
  JsonDocument document;
  std::string error;
  EXPECT_FALSE(document.parse(text, duplicates, &error)) << text;
  return error;
}

TEST(JsonDocument, ScalarsKeepNlohmannsNumberTypes) {
  const JsonDocument doc = parsed(R"([null, true, false, 0, 7, -3, 1.5, 1e3, 18446744073709551615,
                 18446744073709551616, "a\"\u00e9\n"])");
  std::vector<JsonValue> v(doc.root().begin(), doc.root().end());
  ASSERT_EQ(v.size(), 11u);
  EXPECT_TRUE(v[0].is_null());
  EXPECT_TRUE(v[1].is_boolean() && v[1].boolean());
  EXPECT_TRUE(v[2].is_boolean() && !v[2].boolean());
  EXPECT_TRUE(v[3].is_unsigned() && v[3].unsigned_value() == 0);
  EXPECT_TRUE(v[4].is_unsigned() && v[4].unsigned_value() == 7);
  EXPECT_TRUE(v[5].is_integer() && !v[5].is_unsigned() && v[5].signed_value() == -3);
  EXPECT_EQ(v[6].type(), JsonValue::Type::kDouble);
  EXPECT_EQ(v[6].number(), 1.5);
  EXPECT_EQ(v[7].type(), JsonValue::Type::kDouble);  // an exponent makes a double, as in nlohmann
  EXPECT_EQ(v[8].unsigned_value(), 18446744073709551615u);
  EXPECT_EQ(v[9].type(), JsonValue::Type::kDouble);  // beyond 64 bits
  EXPECT_EQ(v[10].string(), "a\"\xc3\xa9\n");
  for (const JsonValue x : v) EXPECT_EQ(x.size(), 0u);
}

TEST(JsonDocument, ObjectsKeepDocumentOrderAndNest) {
  const JsonDocument doc = parsed(R"({"z": {"y": [1, [2, {}], []]}, "a": "b", "m": {}})");
  const JsonValue root = doc.root();
  ASSERT_TRUE(root.is_object());
  std::vector<std::string> keys;
  for (const JsonValue member : root) keys.emplace_back(member.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"z", "a", "m"}));
  const std::optional<JsonValue> z = root.find("z");
  ASSERT_TRUE(z.has_value());
  const std::optional<JsonValue> y = z->find("y");
  ASSERT_TRUE(y.has_value());
  ASSERT_EQ(y->size(), 3u);
  EXPECT_EQ(y->brief(100), R"([1,[2,{}],[]])");
  EXPECT_FALSE(y->find("y").has_value());  // an array has no members
  ASSERT_TRUE(root.find("a").has_value());
  EXPECT_EQ(root.find("a")->string(), "b");
  EXPECT_FALSE(root.find("nope").has_value());
  ASSERT_TRUE(root.find("m").has_value());
  EXPECT_EQ(root.find("m")->size(), 0u);
  EXPECT_EQ(root.brief(1000), R"({"z":{"y":[1,[2,{}],[]]},"a":"b","m":{}})");
}

TEST(JsonDocument, BriefMatchesNlohmannsDumpAndStopsEarly) {
  for (const char* text : {R"({"a":[1,-2,2.5,1e+100,true,null,"x\ty\u0001\b\f\\/"],"b":{}})",
                           R"("caf\u00e9")", "3.0", "[[[]]]"}) {
    EXPECT_EQ(parsed(text).root().brief(1000), nlohmann::json::parse(text).dump()) << text;
  }
  std::string huge = "[";
  for (int i = 0; i < 100000; ++i) huge += "12345678,";
  huge += "0]";
  const std::string brief = parsed(huge).root().brief(20);
  EXPECT_EQ(brief, "[12345678,12345678,1...");
  // A cut never splits a UTF-8 character.
  EXPECT_EQ(parsed(R"("\u00e9\u00e9")").root().brief(2), "\"...");
}

TEST(JsonDocument, DuplicateKeysAreRefusedOrTheLastWins) {
  EXPECT_EQ(error_of(R"({"a": 1, "a": 2})"), "has duplicate key \"a\"");
  EXPECT_EQ(error_of(R"({"t": {"dtype": 1, "dtype": 2}})"), "has duplicate key \"dtype\" in \"t\"");
  EXPECT_EQ(error_of(R"({"a": 1, "b": {"a": 2, "a": [3]}})"), "has duplicate key \"a\" in \"b\"");
  // The same name in different objects is not a duplicate.
  parsed(R"({"a": {"a": 1}, "b": {"a": 2}})");

  const JsonDocument doc =
      parsed(R"({"a": 1, "b": 2, "a": {"c": 3}, "d": 4, "a": [5]})", DuplicateKeys::kKeepLast);
  const JsonValue root = doc.root();
  EXPECT_EQ(root.size(), 3u);
  ASSERT_TRUE(root.find("a").has_value());
  EXPECT_EQ(root.find("a")->brief(100), "[5]");
  EXPECT_EQ(root.brief(100), R"({"b":2,"d":4,"a":[5]})");
}

TEST(JsonDocument, InvalidJsonIsRefusedWithNlohmannsMessage) {
  for (const char* text : {"", "{", "[1,]", "{\"a\":1} x", "nul", "\"\xff\"", "1e999", "{'a':1}",
                           "[1] // comment", "{\"a\"\x00:1}"}) {
    const std::string error = error_of(text);
    EXPECT_EQ(error.rfind("is not valid JSON", 0), 0u) << text << ": " << error;
  }
  EXPECT_NE(error_of("[1,]").find("parse_error"), std::string::npos);
}

TEST(JsonDocument, NestingDeeperThanTheLimitIsRefused) {
  const std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  parsed(ok);
  const std::string deep =
      std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']');
  EXPECT_EQ(error_of(deep), "nests arrays and objects deeper than 128 levels");
  std::string objects;
  for (size_t i = 0; i <= kMaxJsonDepth; ++i) objects += "{\"k\":";
  objects += "1" + std::string(kMaxJsonDepth + 1, '}');
  EXPECT_EQ(error_of(objects), "nests arrays and objects deeper than 128 levels");
  // A hostile document nested a million deep is refused without deep recursion.
  const std::string hostile(1'000'000, '[');
  EXPECT_FALSE(error_of(hostile).empty());
}

TEST(JsonDocument, AParseReplacesTheEarlierDocument) {
  JsonDocument document;
  std::string error;
  ASSERT_TRUE(document.parse(R"({"a":[1,2]})", DuplicateKeys::kReject, &error));
  ASSERT_TRUE(document.parse("[true]", DuplicateKeys::kReject, &error));
  EXPECT_EQ(document.root().brief(100), "[true]");
  EXPECT_FALSE(document.parse("[", DuplicateKeys::kReject, &error));
  EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace kvc
