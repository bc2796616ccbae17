#include "lm/models/config.h"

#include <cmath>
#include <stdexcept>

namespace tessera::lm {

ConfigReader::ConfigReader(nlohmann::json config, std::string source)
    : config_(std::move(config)), source_(std::move(source)) {
  if (!config_.is_object()) {
    fail("expected a JSON object at the top level");
  }
}

void ConfigReader::fail(const std::string& message) const {
  throw std::runtime_error(source_ + ": " + message);
}

bool ConfigReader::has(const std::string& key) const {
  auto it = config_.find(key);
  return it != config_.end() && !it->is_null();
}

const nlohmann::json& ConfigReader::value(const std::string& key) const {
  if (!has(key)) {
    fail("missing required key '" + key + "'");
  }
  return config_.at(key);
}

int ConfigReader::get_int(const std::string& key) const {
  const auto& v = value(key);
  if (v.is_number_integer() || v.is_number_unsigned()) {
    return v.get<int>();
  }
  // Some exporters write integral values as 4096.0.
  if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) {
    return static_cast<int>(v.get<double>());
  }
  fail("key '" + key + "' must be an integer, got " + v.dump());
}

double ConfigReader::get_double(const std::string& key) const {
  const auto& v = value(key);
  if (!v.is_number()) {
    fail("key '" + key + "' must be a number, got " + v.dump());
  }
  return v.get<double>();
}

std::string ConfigReader::get_string(const std::string& key) const {
  const auto& v = value(key);
  if (!v.is_string()) {
    fail("key '" + key + "' must be a string, got " + v.dump());
  }
  return v.get<std::string>();
}

int ConfigReader::get_int(const std::string& key, int fallback) const {
  return has(key) ? get_int(key) : fallback;
}

double ConfigReader::get_double(const std::string& key, double fallback) const {
  return has(key) ? get_double(key) : fallback;
}

bool ConfigReader::get_bool(const std::string& key, bool fallback) const {
  if (!has(key)) {
    return fallback;
  }
  const auto& v = config_.at(key);
  if (!v.is_boolean()) {
    fail("key '" + key + "' must be true or false, got " + v.dump());
  }
  return v.get<bool>();
}

std::string ConfigReader::get_string(const std::string& key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

std::optional<int> ConfigReader::get_optional_int(const std::string& key) const {
  if (!has(key)) {
    return std::nullopt;
  }
  return get_int(key);
}

std::optional<double> ConfigReader::get_optional_double(const std::string& key) const {
  if (!has(key)) {
    return std::nullopt;
  }
  return get_double(key);
}

std::vector<int> ConfigReader::get_int_list(const std::string& key) const {
  if (!has(key)) {
    return {};
  }
  const auto& v = config_.at(key);
  if (!v.is_array()) {
    fail("key '" + key + "' must be a list of integers, got " + v.dump());
  }
  std::vector<int> out;
  for (const auto& e : v) {
    if (!e.is_number_integer()) {
      fail("key '" + key + "' must be a list of integers, got " + v.dump());
    }
    out.push_back(e.get<int>());
  }
  return out;
}

std::vector<std::string> ConfigReader::get_string_list(const std::string& key) const {
  if (!has(key)) {
    return {};
  }
  const auto& v = config_.at(key);
  if (!v.is_array()) {
    fail("key '" + key + "' must be a list of strings, got " + v.dump());
  }
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string()) {
      fail("key '" + key + "' must be a list of strings, got " + v.dump());
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace tessera::lm
