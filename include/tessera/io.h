// Reading and writing safetensors files.
#pragma once

#include <string>
#include <unordered_map>

#include "tessera/array.h"

namespace tessera {

struct SafetensorsFile {
  std::unordered_map<std::string, array> tensors;
  std::unordered_map<std::string, std::string> metadata;
};

// Validates the whole header (length, JSON, dtypes, shapes, offsets, overlaps) before touching
// any data, then maps the file once: the arrays are zero-copy views of the mapping, which
// stays alive while any of them does. dtypes: BOOL U8 U32 I8 I32 I64 F16 BF16 F32.
// Errors are std::runtime_error naming the file (and the tensor).
SafetensorsFile load_safetensors(const std::string& path);

// Writes the header (keys sorted, padded with spaces to a multiple of 8 bytes) and the data to
// `path + ".tmp"`, then renames it to `path`: a failed save leaves no partial file behind.
// Arrays are evaluated and written in row-major order whatever their strides.
void save_safetensors(const std::string& path, const std::unordered_map<std::string, array>& tensors,
                      const std::unordered_map<std::string, std::string>& metadata = {});

}  // namespace tessera
