// Typed access to a model's config.json whose errors name the file and the key.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace tessera::lm {

class ConfigReader {
 public:
  // `source` names the file in error messages (usually the path of config.json).
  ConfigReader(nlohmann::json config, std::string source);

  const nlohmann::json& json() const { return config_; }
  const std::string& source() const { return source_; }

  // True when the key is present and not null.
  bool has(const std::string& key) const;

  // Required values: a missing or null key is an error.
  int get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  std::string get_string(const std::string& key) const;

  // Optional values: a missing or null key gives the default.
  int get_int(const std::string& key, int fallback) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  std::optional<int> get_optional_int(const std::string& key) const;
  std::optional<double> get_optional_double(const std::string& key) const;
  std::vector<int> get_int_list(const std::string& key) const;  // missing -> empty
  std::vector<std::string> get_string_list(const std::string& key) const;

  // Throws std::runtime_error("<source>: <message>").
  [[noreturn]] void fail(const std::string& message) const;

 private:
  const nlohmann::json& value(const std::string& key) const;

  nlohmann::json config_;
  std::string source_;
};

}  // namespace tessera::lm
