// Runs the built `tessera` executable with arguments and stdin, capturing its output.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace tessera::test {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A fresh scratch folder, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "tessera-cli-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// `args` are quoted for the shell one by one; `stdin_text` is fed on standard input.
inline CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text = "") {
  TempDir dir;
  write_file(dir.path() / "in", stdin_text);
  std::string cmd = quote(TESSERA_EXE);
  // Appended piece by piece: GCC 12 reports a false -Wrestrict for `" " + std::string&&`.
  for (const auto& a : args) cmd.append(" ").append(quote(a));
  cmd.append(" < ").append(quote((dir.path() / "in").string()));
  cmd.append(" > ").append(quote((dir.path() / "out").string()));
  cmd.append(" 2> ").append(quote((dir.path() / "err").string()));
  int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(dir.path() / "out");
  r.err = read_file(dir.path() / "err");
  return r;
}

inline nlohmann::json demo_references() {
  std::ifstream in("models/stories260K/reference_greedy.json");
  return nlohmann::json::parse(in);
}

inline int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// The pieces of s between occurrences of sep (the chat prompt splits a transcript into turns).
inline std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> parts;
  size_t from = 0;
  for (size_t at = s.find(sep); at != std::string::npos; at = s.find(sep, from)) {
    parts.push_back(s.substr(from, at - from));
    from = at + sep.size();
  }
  parts.push_back(s.substr(from));
  return parts;
}

}  // namespace tessera::test
