#include "io/safetensors_header.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

namespace tessera::io {

namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw std::runtime_error("safetensors file '" + file + "': " + what);
}

[[noreturn]] void fail_tensor(const std::string& file, const std::string& name, const std::string& what) {
  fail(file, "tensor '" + name + "': " + what);
}

// Reads a JSON number that must be a non-negative integer fitting in int64.
bool as_offset(const json& value, uint64_t& out) {
  if (!value.is_number_unsigned()) return false;
  out = value.get<uint64_t>();
  return out <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}

SafetensorsTensorInfo parse_tensor(const std::string& name, const json& entry, uint64_t data_size,
                                   const std::string& file) {
  if (!entry.is_object()) fail_tensor(file, name, "entry is not a JSON object");
  SafetensorsTensorInfo info;
  info.name = name;

  auto dtype = entry.find("dtype");
  if (dtype == entry.end() || !dtype->is_string()) fail_tensor(file, name, "missing string field 'dtype'");
  info.dtype = dtype->get<std::string>();
  size_t itemsize = safetensors_itemsize(info.dtype);
  if (itemsize == 0) fail_tensor(file, name, "unknown dtype '" + info.dtype + "'");

  auto shape = entry.find("shape");
  if (shape == entry.end() || !shape->is_array()) fail_tensor(file, name, "missing array field 'shape'");
  uint64_t bytes = itemsize;
  for (const auto& dim : *shape) {
    uint64_t d;
    if (!as_offset(dim, d)) fail_tensor(file, name, "shape entries must be non-negative integers");
    info.shape.push_back(static_cast<int64_t>(d));
    if (__builtin_mul_overflow(bytes, d, &bytes)) fail_tensor(file, name, "shape is too large");
  }

  auto offsets = entry.find("data_offsets");
  if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
      !as_offset((*offsets)[0], info.data_begin) || !as_offset((*offsets)[1], info.data_end)) {
    fail_tensor(file, name, "'data_offsets' must be two non-negative integers");
  }
  if (info.data_begin > info.data_end) fail_tensor(file, name, "data_offsets begin after they end");
  if (info.data_end > data_size) {
    fail_tensor(file, name,
                "data_offsets [" + std::to_string(info.data_begin) + ", " + std::to_string(info.data_end) +
                    "] run past the end of the data area (" + std::to_string(data_size) +
                    " bytes); the file may be truncated");
  }
  if (info.data_end - info.data_begin != bytes) {
    fail_tensor(file, name,
                "shape and dtype " + info.dtype + " need " + std::to_string(bytes) + " bytes but data_offsets span " +
                    std::to_string(info.data_end - info.data_begin));
  }
  return info;
}

void parse_metadata(const json& entry, SafetensorsHeader& header, const std::string& file) {
  if (!entry.is_object()) fail(file, "'__metadata__' is not a JSON object");
  for (const auto& [key, value] : entry.items()) {
    if (!value.is_string()) fail(file, "'__metadata__' value of '" + key + "' is not a string");
    header.metadata.emplace(key, value.get<std::string>());
  }
}

void check_no_overlap(const SafetensorsHeader& header, const std::string& file) {
  std::vector<const SafetensorsTensorInfo*> by_offset;
  for (const auto& t : header.tensors) {
    if (t.data_end > t.data_begin) by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->data_begin < b->data_begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->data_begin < by_offset[i - 1]->data_end) {
      fail(file, "tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name +
                     "' have overlapping data_offsets");
    }
  }
}

void read_exactly(int fd, void* dst, size_t n, uint64_t offset, const std::string& path) {
  auto* out = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t got = ::pread(fd, out, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail(path, std::string("read failed: ") + std::strerror(errno));
    if (got == 0) fail(path, "unexpected end of file");
    out += got;
    n -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
}

}  // namespace

size_t safetensors_itemsize(std::string_view dtype) {
  static const std::pair<std::string_view, size_t> kSizes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2},
      {"U16", 2},  {"F16", 2}, {"BF16", 2}, {"I32", 4},    {"U32", 4},     {"F32", 4},
      {"I64", 8},  {"U64", 8}, {"F64", 8}};
  for (auto [name, size] : kSizes) {
    if (name == dtype) return size;
  }
  return 0;
}

SafetensorsHeader parse_safetensors_header(std::string_view text, uint64_t data_size, const std::string& file) {
  // Duplicate names would silently shadow each other in a JSON object: reject them.
  std::set<std::string> names;
  std::string duplicate;
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && !names.insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  json root;
  try {
    root = json::parse(text.begin(), text.end(), on_event);
  } catch (const json::exception& e) {
    fail(file, std::string("header is not valid JSON: ") + e.what());
  }
  if (!duplicate.empty()) fail(file, "tensor name '" + duplicate + "' appears twice in the header");
  if (!root.is_object()) fail(file, "header is not a JSON object");

  SafetensorsHeader header;
  header.data_size = data_size;
  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") {
      parse_metadata(entry, header, file);
    } else {
      header.tensors.push_back(parse_tensor(name, entry, data_size, file));
    }
  }
  check_no_overlap(header, file);
  return header;
}

SafetensorsHeader read_safetensors_header(int fd, uint64_t file_size, const std::string& path) {
  if (file_size < 8) fail(path, "file is " + std::to_string(file_size) + " bytes, too short for a header");
  unsigned char prefix[8];
  read_exactly(fd, prefix, 8, 0, path);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | prefix[i];
  if (header_size > file_size - 8) {
    fail(path, "header length " + std::to_string(header_size) + " runs past the end of the file (" +
                   std::to_string(file_size) + " bytes); the file is truncated or not safetensors");
  }
  if (header_size > kMaxSafetensorsHeaderSize) {
    fail(path, "header length " + std::to_string(header_size) + " exceeds the limit of " +
                   std::to_string(kMaxSafetensorsHeaderSize) + " bytes");
  }
  std::string text(header_size, '\0');
  read_exactly(fd, text.data(), header_size, 8, path);
  SafetensorsHeader header = parse_safetensors_header(text, file_size - 8 - header_size, path);
  header.data_offset = 8 + header_size;
  return header;
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct CloseOnExit {
    int fd;
    ~CloseOnExit() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) fail(path, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  return read_safetensors_header(fd, static_cast<uint64_t>(st.st_size), path);
}

}  // namespace tessera::io
