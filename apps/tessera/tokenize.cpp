// `tessera tokenize`: text -> token ids (with the token strings), or ids -> text.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <stdexcept>

#include "command.h"
#include "tessera/lm/tokenizer.h"

namespace tessera::cli {
namespace {

struct TokenizeFlags {
  std::string model;
  std::string text;
  std::string file;
  std::string ids;
  bool add_special_tokens = false;
  bool skip_special_tokens = false;
  bool json = false;
};

lm::Tokenizer load_tokenizer(const std::string& path) {
  if (std::filesystem::is_regular_file(path)) return lm::Tokenizer::from_file(path);
  return lm::Tokenizer::from_folder(path);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in || std::filesystem::is_directory(path)) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// "1,2, 3" -> {1, 2, 3}; names the element that is not an id.
std::vector<int> parse_ids(const std::string& list) {
  std::vector<int> ids;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string item = list.substr(start, comma - start);
    size_t first = item.find_first_not_of(" \t");
    size_t last = item.find_last_not_of(" \t");
    item = first == std::string::npos ? "" : item.substr(first, last - first + 1);
    size_t used = 0;
    long value = -1;
    try {
      value = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || value < 0 || value > INT32_MAX) {
      throw std::invalid_argument("--ids: '" + item + "' is not a token id (expected e.g. 1,2,3)");
    }
    ids.push_back(static_cast<int>(value));
    start = comma + 1;
  }
  return ids;
}

void run(const TokenizeFlags& flags) {
  int sources = !flags.text.empty() + !flags.file.empty() + !flags.ids.empty();
  if (sources != 1) throw std::invalid_argument("give exactly one of --text, --file or --ids");
  lm::Tokenizer tokenizer = load_tokenizer(flags.model);
  const auto dump = [](const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };

  if (!flags.ids.empty()) {
    std::string text = tokenizer.decode(parse_ids(flags.ids), flags.skip_special_tokens);
    if (flags.json) {
      std::cout << dump({{"text", text}}) << "\n";
    } else {
      std::cout << text << "\n";
    }
    return;
  }

  std::string text = flags.file.empty() ? flags.text : read_text_file(flags.file);
  std::vector<int> ids = tokenizer.encode(text, flags.add_special_tokens);
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int id : ids) tokens.push_back(tokenizer.id_to_token(id));
  if (flags.json) {
    std::cout << dump({{"ids", ids}, {"tokens", tokens}}) << "\n";
    return;
  }
  // Line 1: the ids; line 2: the token strings, JSON-quoted so that spaces and control
  // characters stay visible.
  for (size_t k = 0; k < ids.size(); ++k) std::cout << (k ? " " : "") << ids[k];
  std::cout << "\n";
  for (size_t k = 0; k < tokens.size(); ++k) std::cout << (k ? " " : "") << dump(tokens[k]);
  std::cout << "\n";
}

const bool registered = register_command({
    "tokenize",
    "Encode text to token ids, or decode ids to text, with a model's tokenizer",
    [](CLI::App& app) {
      auto flags = std::make_shared<TokenizeFlags>();
      flags->model = default_model_path();
      app.add_option("--model", flags->model,
                     "Folder with tokenizer.json (+ tokenizer_config.json) or tokenizer.model, or "
                     "the tokenizer file itself")
          ->capture_default_str();
      app.add_option("--text", flags->text, "Text to encode");
      app.add_option("--file", flags->file, "Encode the contents of this file");
      app.add_option("--ids", flags->ids, "Comma-separated token ids to decode, e.g. 1,2,3");
      app.add_flag("--add-special-tokens", flags->add_special_tokens,
                   "Add the tokenizer's special tokens (e.g. BOS) when encoding");
      app.add_flag("--skip-special-tokens", flags->skip_special_tokens,
                   "Leave special tokens out when decoding");
      app.add_flag("--json", flags->json,
                   "Print one JSON object: {\"ids\", \"tokens\"} or {\"text\"}");
      app.callback([flags] { run(*flags); });
    },
});

}  // namespace
}  // namespace tessera::cli
