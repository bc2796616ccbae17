// A hash map from strings to ids that can be probed with a string_view (no allocation).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

namespace tessera::lm::tokenizer_detail {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

using StringIdMap = std::unordered_map<std::string, int, StringHash, std::equal_to<>>;

}  // namespace tessera::lm::tokenizer_detail
