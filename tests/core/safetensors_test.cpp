// load_safetensors / save_safetensors: round trips, the fixture model, and bad files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/safetensors_header.h"
#include "tessera/io.h"
#include "tessera/ops.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class SafetensorsFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tessera_st_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static std::string read_bytes(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
};

// The bytes of an evaluated row-contiguous array.
std::vector<uint8_t> raw_bytes(array a) {
  a.eval();
  std::vector<uint8_t> out(a.nbytes());
  if (!out.empty()) std::memcpy(out.data(), a.data<uint8_t>(), out.size());
  return out;
}

TEST_F(SafetensorsFiles, RoundTripsEveryDtypeAndMetadata) {
  std::unordered_map<std::string, array> tensors = {
      {"f32", array(std::vector<float>{1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, 7.0f}, {2, 3})},
      {"bf16", array(std::vector<float>{1.0f, -0.5f, 3.0f}, {3}, bfloat16)},
      {"f16", array(std::vector<float>{0.25f, 65504.0f}, {1, 2}, float16)},
      {"u32", array(std::vector<uint32_t>{0u, 7u, 4000000000u}, {3}, uint32)},
      {"i32", array(std::vector<int32_t>{-5, 6}, {2}, int32)},
      {"i64", array(std::vector<int64_t>{-(int64_t{1} << 40), 3}, {2, 1}, int64)},
      {"i8", array(std::vector<int8_t>{-128, 0, 127}, {3}, int8)},
      {"u8", array(std::vector<uint8_t>{0, 255}, {2}, uint8)},
      {"bool", array(std::vector<uint8_t>{1, 0, 1}, {3}, bool_)},
      {"scalar", array(2.5f)},
      {"empty", zeros({0, 4})},
  };
  std::unordered_map<std::string, std::string> metadata = {{"format", "mlx"}, {"note", "µ \"quoted\""}};
  save_safetensors(path("a.safetensors"), tensors, metadata);
  EXPECT_FALSE(fs::exists(path("a.safetensors.tmp")));

  SafetensorsFile loaded = load_safetensors(path("a.safetensors"));
  EXPECT_EQ(loaded.metadata, metadata);
  ASSERT_EQ(loaded.tensors.size(), tensors.size());
  for (auto& [name, original] : tensors) {
    SCOPED_TRACE(name);
    array& got = loaded.tensors.at(name);
    EXPECT_EQ(got.dtype(), original.dtype());
    EXPECT_EQ(got.shape(), original.shape());
    EXPECT_EQ(raw_bytes(got), raw_bytes(original));
  }
  EXPECT_EQ(loaded.tensors.at("u32").to_vector<uint32_t>()[2], 4000000000u);
  EXPECT_EQ(loaded.tensors.at("bf16").to_vector<float>(), (std::vector<float>{1.0f, -0.5f, 3.0f}));
}

TEST_F(SafetensorsFiles, WritesTheReferenceLayout) {
  save_safetensors(path("b.safetensors"),
                   {{"z", array(std::vector<float>{1, 2}, {2})}, {"a", array(std::vector<uint8_t>{9}, {1}, uint8)}},
                   {{"k", "v"}});
  std::string bytes = read_bytes(path("b.safetensors"));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  std::string header = bytes.substr(8, n);
  size_t close = header.rfind('}');
  EXPECT_GT(close + 8, header.size());  // padding shorter than 8 bytes
  EXPECT_EQ(header.find_first_not_of(' ', close + 1), std::string::npos);  // spaces only
  auto j = nlohmann::json::parse(header);
  EXPECT_EQ(j["__metadata__"]["k"], "v");
  // Wider dtypes first: the F32 tensor starts the data area, the byte follows it.
  EXPECT_EQ(j["z"]["data_offsets"], nlohmann::json({0, 8}));
  EXPECT_EQ(j["a"]["data_offsets"], nlohmann::json({8, 9}));
  EXPECT_EQ(bytes.size(), 8 + n + 9);
  EXPECT_LT(header.find("\"a\""), header.find("\"z\""));  // keys sorted
}

TEST_F(SafetensorsFiles, SavesStridedViewsInRowMajorOrder) {
  array a = array(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  save_safetensors(path("t.safetensors"), {{"t", transpose(a)}});
  array t = load_safetensors(path("t.safetensors")).tensors.at("t");
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST_F(SafetensorsFiles, ArraysOutliveTheLoadedFile) {
  save_safetensors(path("k.safetensors"), {{"w", array(std::vector<float>{4, 5, 6}, {3})}});
  array w = [&] { return load_safetensors(path("k.safetensors")).tensors.at("w"); }();
  fs::remove(path("k.safetensors"));  // the mapping keeps the data reachable
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{4, 5, 6}));
  EXPECT_EQ((w * 2.0f).to_vector<float>(), (std::vector<float>{8, 10, 12}));
}

TEST_F(SafetensorsFiles, OverwritesAnExistingFile) {
  save_safetensors(path("o.safetensors"), {{"a", array(std::vector<float>{1}, {1})}});
  save_safetensors(path("o.safetensors"), {{"b", array(std::vector<float>{2, 3}, {2})}});
  auto f = load_safetensors(path("o.safetensors"));
  EXPECT_EQ(f.tensors.count("a"), 0u);
  EXPECT_EQ(f.tensors.at("b").to_vector<float>(), (std::vector<float>{2, 3}));
}

TEST(SafetensorsFixture, LoadsTheLlamaModelZeroCopy) {
  const std::string file = "tests/fixtures/models/llama/model.safetensors";
  auto header = io::read_safetensors_header(file);
  SafetensorsFile f = load_safetensors(file);
  EXPECT_EQ(f.metadata.at("format"), "pt");
  ASSERT_EQ(f.tensors.size(), header.tensors.size());

  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  for (const auto& info : header.tensors) {
    SCOPED_TRACE(info.name);
    array& t = f.tensors.at(info.name);
    EXPECT_EQ(t.dtype(), float32);
    EXPECT_EQ(t.shape(), Shape(info.shape.begin(), info.shape.end()));
    const char* expected = bytes.data() + header.data_offset + info.data_begin;
    ASSERT_EQ(std::memcmp(t.data<char>(), expected, info.data_end - info.data_begin), 0);
  }
  array embed = f.tensors.at("model.embed_tokens.weight");
  EXPECT_EQ(embed.shape(), (Shape{512, 64}));
}

TEST(SafetensorsFixture, LoadsBf16Weights) {
  SafetensorsFile f = load_safetensors("tests/fixtures/models/llama_bf16/model.safetensors");
  ASSERT_FALSE(f.tensors.empty());
  for (auto& [name, t] : f.tensors) EXPECT_EQ(t.dtype(), bfloat16) << name;
}

// A file with the given header and `data_bytes` zero bytes of data.
std::string make_file(const std::string& header, size_t data_bytes) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((uint64_t{header.size()} >> (8 * i)) & 0xff);
  return bytes + header + std::string(data_bytes, '\0');
}

TEST_F(SafetensorsFiles, BadFilesThrowNamingFileAndTensor) {
  struct Case {
    std::string bytes;
    std::vector<std::string> fragments;
  };
  std::string good_header = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  std::string good = make_file(good_header, 16);
  std::vector<Case> cases = {
      {good.substr(0, good.size() - 5), {"tensor 'w'", "truncated"}},
      {good.substr(0, 6), {"too short"}},
      {good.substr(0, 20), {"past the end"}},
      {make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                 12),
       {"overlapping"}},
      {make_file(R"({"w":{"dtype":"X9","shape":[2],"data_offsets":[0,8]}})", 8), {"tensor 'w'", "unknown dtype"}},
      {make_file(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8), {"tensor 'w'", "unsupported dtype F64"}},
      {make_file(R"({"w":{"dtype":"I16","shape":[1],"data_offsets":[0,2]}})", 2), {"tensor 'w'", "unsupported dtype I16"}},
      {make_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), {"tensor 'w'", "need 12 bytes"}},
      {make_file(R"({"w":{"dtype":"F32",)", 8), {"not valid JSON"}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string p = path("bad" + std::to_string(i) + ".safetensors");
    std::ofstream(p, std::ios::binary) << cases[i].bytes;
    try {
      load_safetensors(p);
      ADD_FAILURE() << "case " << i << " loaded";
    } catch (const std::runtime_error& e) {
      EXPECT_THAT(e.what(), HasSubstr(p)) << "case " << i;
      for (const auto& f : cases[i].fragments) EXPECT_THAT(e.what(), HasSubstr(f)) << "case " << i;
    }
  }
}

TEST_F(SafetensorsFiles, MissingFileAndDirectory) {
  EXPECT_THROW(load_safetensors(path("nope.safetensors")), std::runtime_error);
  EXPECT_THROW(load_safetensors(dir_.string()), std::runtime_error);
}

TEST_F(SafetensorsFiles, FailedSaveLeavesNothingBehind) {
  std::string target = path("missing_dir/x.safetensors");
  try {
    save_safetensors(target, {{"a", array(std::vector<float>{1}, {1})}});
    FAIL() << "saved into a missing directory";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing_dir/x.safetensors"));
  }
  EXPECT_FALSE(fs::exists(path("missing_dir")));
  EXPECT_THROW(save_safetensors(path("m.safetensors"), {{"__metadata__", array(1.0f)}}), std::runtime_error);
  EXPECT_FALSE(fs::exists(path("m.safetensors")));
  EXPECT_FALSE(fs::exists(path("m.safetensors.tmp")));
}

TEST_F(SafetensorsFiles, MisalignedTensorsAreStillReadable) {
  // An F32 tensor at an odd offset, as a non-reference writer could produce.
  std::string header = R"({"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"f":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string bytes = make_file(header, 0);
  bytes.push_back(7);
  float values[2] = {1.25f, -3.0f};
  bytes.append(reinterpret_cast<const char*>(values), sizeof(values));
  std::ofstream(path("mis.safetensors"), std::ios::binary) << bytes;
  auto f = load_safetensors(path("mis.safetensors"));
  EXPECT_EQ(f.tensors.at("f").to_vector<float>(), (std::vector<float>{1.25f, -3.0f}));
  EXPECT_EQ(f.tensors.at("b").to_vector<uint8_t>(), (std::vector<uint8_t>{7}));
}

}  // namespace
}  // namespace tessera
