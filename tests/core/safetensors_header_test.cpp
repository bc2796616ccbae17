// The safetensors header reader: validation before any data is touched.
#include "io/safetensors_header.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

namespace tessera::io {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A file made of the 8-byte length prefix, the header text and `data_bytes` zero bytes.
std::string make_file(const std::string& header, size_t data_bytes, uint64_t length_prefix) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length_prefix >> (8 * i)) & 0xff);
  bytes += header;
  bytes.append(data_bytes, '\0');
  return bytes;
}

std::string make_file(const std::string& header, size_t data_bytes) {
  return make_file(header, data_bytes, header.size());
}

class SafetensorsHeaderFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tessera_st_header_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& bytes) {
    std::string path = (dir_ / "file.safetensors").string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // Expects read_safetensors_header to throw a runtime_error containing every fragment.
  void expect_error(const std::string& bytes, std::initializer_list<std::string> fragments) {
    std::string path = write(bytes);
    try {
      read_safetensors_header(path);
      FAIL() << "no error for a bad file";
    } catch (const std::runtime_error& e) {
      EXPECT_THAT(e.what(), HasSubstr(path));
      for (const auto& f : fragments) EXPECT_THAT(e.what(), HasSubstr(f));
    }
  }

  fs::path dir_;
};

TEST(SafetensorsItemsize, KnowsEveryDtype) {
  EXPECT_EQ(safetensors_itemsize("BOOL"), 1u);
  EXPECT_EQ(safetensors_itemsize("U8"), 1u);
  EXPECT_EQ(safetensors_itemsize("I8"), 1u);
  EXPECT_EQ(safetensors_itemsize("F16"), 2u);
  EXPECT_EQ(safetensors_itemsize("BF16"), 2u);
  EXPECT_EQ(safetensors_itemsize("I16"), 2u);
  EXPECT_EQ(safetensors_itemsize("U32"), 4u);
  EXPECT_EQ(safetensors_itemsize("I32"), 4u);
  EXPECT_EQ(safetensors_itemsize("F32"), 4u);
  EXPECT_EQ(safetensors_itemsize("I64"), 8u);
  EXPECT_EQ(safetensors_itemsize("F64"), 8u);
  EXPECT_EQ(safetensors_itemsize("f32"), 0u);
  EXPECT_EQ(safetensors_itemsize(""), 0u);
}

TEST_F(SafetensorsHeaderFiles, ReadsAValidHeader) {
  std::string header =
      R"({"__metadata__":{"format":"pt","note":"x"},)"
      R"("b":{"dtype":"BF16","shape":[2,3],"data_offsets":[16,28]},)"
      R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
      R"("empty":{"dtype":"I64","shape":[0,5],"data_offsets":[28,28]}}    )";
  auto h = read_safetensors_header(write(make_file(header, 28)));
  ASSERT_EQ(h.tensors.size(), 3u);
  EXPECT_EQ(h.tensors[0].name, "a");
  EXPECT_EQ(h.tensors[0].dtype, "F32");
  EXPECT_EQ(h.tensors[0].shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(h.tensors[1].name, "b");
  EXPECT_EQ(h.tensors[1].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(h.tensors[1].data_begin, 16u);
  EXPECT_EQ(h.tensors[1].data_end, 28u);
  EXPECT_EQ(h.tensors[2].name, "empty");
  EXPECT_EQ(h.metadata.at("format"), "pt");
  EXPECT_EQ(h.metadata.at("note"), "x");
  EXPECT_EQ(h.data_offset, 8 + header.size());
  EXPECT_EQ(h.data_size, 28u);
}

TEST(SafetensorsHeaderFixture, ReadsTheLlamaFixture) {
  auto h = read_safetensors_header("tests/fixtures/models/llama/model.safetensors");
  EXPECT_EQ(h.metadata.at("format"), "pt");
  ASSERT_FALSE(h.tensors.empty());
  EXPECT_EQ(h.tensors.front().name, "lm_head.weight");
  EXPECT_EQ(h.tensors.front().dtype, "F32");
  EXPECT_EQ(h.tensors.front().shape, (std::vector<int64_t>{512, 64}));
  uint64_t total = 0;
  for (const auto& t : h.tensors) total += t.data_end - t.data_begin;
  EXPECT_EQ(total, h.data_size);
}

TEST_F(SafetensorsHeaderFiles, MissingFileNamesThePath) {
  std::string path = (dir_ / "missing.safetensors").string();
  EXPECT_THROW(
      {
        try {
          read_safetensors_header(path);
        } catch (const std::runtime_error& e) {
          EXPECT_THAT(e.what(), HasSubstr(path));
          throw;
        }
      },
      std::runtime_error);
}

TEST_F(SafetensorsHeaderFiles, FileShorterThanThePrefix) { expect_error("abc", {"too short"}); }

TEST_F(SafetensorsHeaderFiles, HeaderLengthPastEndOfFile) {
  std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  expect_error(make_file(header, 4, 1000), {"header length 1000", "past the end"});
  expect_error(make_file(header, 4, UINT64_MAX), {"past the end"});
}

TEST_F(SafetensorsHeaderFiles, TruncatedData) {
  std::string header = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  expect_error(make_file(header, 10), {"tensor 'a'", "truncated"});
}

TEST_F(SafetensorsHeaderFiles, OverlappingOffsets) {
  std::string header =
      R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})";
  expect_error(make_file(header, 20), {"'a'", "'b'", "overlapping"});
}

TEST_F(SafetensorsHeaderFiles, UnknownDtype) {
  std::string header = R"({"w":{"dtype":"Q4","shape":[4],"data_offsets":[0,4]}})";
  expect_error(make_file(header, 4), {"tensor 'w'", "unknown dtype 'Q4'"});
}

TEST_F(SafetensorsHeaderFiles, ShapeSizeMismatch) {
  std::string header = R"({"w":{"dtype":"F32","shape":[3,2],"data_offsets":[0,20]}})";
  expect_error(make_file(header, 24), {"tensor 'w'", "need 24 bytes", "span 20"});
}

TEST_F(SafetensorsHeaderFiles, ShapeProductOverflow) {
  std::string header =
      R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})";
  expect_error(make_file(header, 4), {"tensor 'w'", "too large"});
}

TEST_F(SafetensorsHeaderFiles, MalformedJson) {
  expect_error(make_file(R"({"w":{"dtype":"F32",)", 0), {"not valid JSON"});
  expect_error(make_file("[1,2]", 0), {"not a JSON object"});
  expect_error(make_file("", 0), {"not valid JSON"});
}

TEST_F(SafetensorsHeaderFiles, MalformedEntries) {
  expect_error(make_file(R"({"w":[1]})", 0), {"tensor 'w'", "not a JSON object"});
  expect_error(make_file(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4), {"tensor 'w'", "dtype"});
  expect_error(make_file(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4), {"tensor 'w'", "shape"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
               {"tensor 'w'", "non-negative"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
               {"tensor 'w'", "non-negative"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
               {"tensor 'w'", "data_offsets"});
  expect_error(make_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4),
               {"tensor 'w'", "begin after"});
}

TEST_F(SafetensorsHeaderFiles, DuplicateNames) {
  std::string header =
      R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
      R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
  expect_error(make_file(header, 2), {"'w'", "twice"});
}

TEST_F(SafetensorsHeaderFiles, MetadataMustBeStrings) {
  expect_error(make_file(R"({"__metadata__":{"n":3}})", 0), {"__metadata__", "'n'"});
  expect_error(make_file(R"({"__metadata__":"x"})", 0), {"__metadata__"});
}

// Random corruption of a valid header either parses or throws runtime_error: never a crash.
TEST_F(SafetensorsHeaderFiles, CorruptedHeadersNeverCrash) {
  std::string header =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}})";
  std::string good = make_file(header, 22);
  std::mt19937 rng(1234);
  int errors = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string bad = good;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % bad.size();
      bad[pos] = static_cast<char>(rng() % 256);
    }
    if (rng() % 4 == 0) bad.resize(rng() % bad.size());
    std::string path = write(bad);
    try {
      auto h = read_safetensors_header(path);
      for (const auto& t : h.tensors) EXPECT_LE(t.data_end, h.data_size);
    } catch (const std::runtime_error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 100);
}

}  // namespace
}  // namespace tessera::io
