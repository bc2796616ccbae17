#include "lm/tokenizer/json_util.h"

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace tessera::lm::tokenizer_detail {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string read_gzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  gzbuffer(f, 1 << 20);
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  int err = 0;
  const char* message = gzerror(f, &err);
  std::string error = (n < 0 && err != Z_OK) ? message : "";
  gzclose(f);
  if (n < 0) throw std::runtime_error(path + ": corrupt gzip data: " + error);
  return out;
}

}  // namespace

std::string read_file(const std::string& path) {
  if (ends_with(path, ".gz")) return read_gzip(path);
  if (!std::filesystem::is_regular_file(path)) throw std::runtime_error("cannot open " + path);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::string out(static_cast<size_t>(in.tellg()), '\0');
  in.seekg(0);
  if (!in.read(out.data(), static_cast<std::streamsize>(out.size()))) {
    throw std::runtime_error("cannot read " + path);
  }
  return out;
}

nlohmann::json parse_json(const std::string& text, const std::string& path) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::runtime_error(path + ": malformed JSON at byte " + std::to_string(e.byte) + ": " +
                             e.what());
  }
}

const std::string& get_string(const nlohmann::json& obj, const char* key, const std::string& file,
                              const std::string& section) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) {
    throw std::runtime_error(file + ": " + section + " needs a string field '" + key + "'");
  }
  return it->get_ref<const std::string&>();
}

const nlohmann::json& get_array(const nlohmann::json& obj, const char* key,
                                const std::string& file, const std::string& section) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array()) {
    throw std::runtime_error(file + ": " + section + " needs an array field '" + key + "'");
  }
  return *it;
}

std::pair<std::optional<Regex>, std::string> parse_pattern(const nlohmann::json& obj,
                                                           const std::string& file,
                                                           const std::string& section) {
  auto it = obj.find("pattern");
  if (it == obj.end() || !it->is_object()) {
    throw std::runtime_error(file + ": " + section + " needs a 'pattern' object");
  }
  if (it->contains("Regex")) {
    try {
      return {Regex(get_string(*it, "Regex", file, section)), ""};
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(file + ": " + section + ": " + e.what());
    }
  }
  return {std::nullopt, get_string(*it, "String", file, section)};
}

}  // namespace tessera::lm::tokenizer_detail
