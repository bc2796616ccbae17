// Locating the reference tokenizers and their fixture cases for the tokenizer tests.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "tessera/lm/tokenizer.h"

namespace tessera::lm::testing {

// $TESSERA_FIXTURES_DIR or tests/fixtures (the tests run from the source root).
std::string fixtures_dir();
// Names <name> of every tokenizers/<name>.jsonl under the fixtures dir, sorted.
std::vector<std::string> fixture_tokenizer_names();
// tests/.data/tokenizers/<name>/tokenizer.json (fetched by scripts/fetch_test_data.sh) or the
// fixtures dir's tokenizers/<name>/tokenizer.json(.gz); empty when neither exists.
std::string tokenizer_file(const std::string& name);
// The tokenizer for fixture <name> with its tokenizer_config.json; fails the test when the
// tokenizer file is missing.
Tokenizer load_fixture_tokenizer(const std::string& name);
std::vector<nlohmann::json> read_jsonl(const std::string& path);
std::string read_file_text(const std::string& path);

}  // namespace tessera::lm::testing
