// Reading and validating a safetensors header without touching the tensor data.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}),
// then the data area; offsets are relative to the start of the data area.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::io {

struct SafetensorsTensorInfo {
  std::string name;
  std::string dtype;  // as in the file: "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t data_begin = 0;  // relative to the data area
  uint64_t data_end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsTensorInfo> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // where the data area starts in the file (8 + N)
  uint64_t data_size = 0;    // bytes from data_offset to the end of the file
};

// Bytes per element of a safetensors dtype string, 0 if the string is not a safetensors dtype.
size_t safetensors_itemsize(std::string_view dtype);

// Parses and validates the JSON header of a file whose data area holds `data_size` bytes:
// well-formed JSON object, no duplicate names, known dtypes, non-negative shapes,
// shape product * itemsize == data_end - data_begin, every range inside the data area, no two
// ranges overlapping, __metadata__ a map of strings. Throws std::runtime_error naming `file`
// (and the tensor) on the first problem.
SafetensorsHeader parse_safetensors_header(std::string_view json, uint64_t data_size,
                                           const std::string& file);

// Reads only the length prefix and header of `path` and validates them (see above), also
// checking the length prefix against the file size.
SafetensorsHeader read_safetensors_header(const std::string& path);

// The same on an open file descriptor of a file of `file_size` bytes; `path` names it in errors.
SafetensorsHeader read_safetensors_header(int fd, uint64_t file_size, const std::string& path);

// The largest header accepted; the reference implementation uses the same bound.
inline constexpr uint64_t kMaxSafetensorsHeaderSize = 100'000'000;

}  // namespace tessera::io
