// Reading tokenizer.json / tokenizer_config.json: files (gzip'd or not) and checked field access
// whose errors name the file and the section at fault.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <utility>

#include "lm/tokenizer/regex.h"

namespace tessera::lm::tokenizer_detail {

// The bytes of `path`, gunzipped when it ends in ".gz". Throws naming the file.
std::string read_file(const std::string& path);
// Parses `text`; a syntax error names `path` and the byte offset.
nlohmann::json parse_json(const std::string& text, const std::string& path);

const std::string& get_string(const nlohmann::json& obj, const char* key, const std::string& file,
                              const std::string& section);
const nlohmann::json& get_array(const nlohmann::json& obj, const char* key,
                                const std::string& file, const std::string& section);
// A {"pattern": {"String": s}} or {"pattern": {"Regex": r}} field: a compiled regex, or the
// literal string.
std::pair<std::optional<Regex>, std::string> parse_pattern(const nlohmann::json& obj,
                                                           const std::string& file,
                                                           const std::string& section);

}  // namespace tessera::lm::tokenizer_detail
