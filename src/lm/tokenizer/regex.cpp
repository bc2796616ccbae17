#include "lm/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdexcept>

#include "lm/tokenizer/unicode.h"

namespace tessera::lm::tokenizer_detail {

namespace {

// Oniguruma's \s is the White_Space property; PCRE2 10.42's (UCP) \s lacks U+0085.
constexpr const char* kSpaceClassBody = "\\t-\\r\\x{85}\\p{Z}";
// Oniguruma's \w: Alphabetic, Mark, Decimal_Number, Connector_Punctuation (PCRE2's lacks marks).
constexpr const char* kWordClassBody = "\\p{L}\\p{Nl}\\p{M}\\p{Nd}\\p{Pc}";

// The class-body replacement for \s or \w, or null for other escapes.
const char* class_body(char escape) {
  if (escape == 's' || escape == 'S') return kSpaceClassBody;
  if (escape == 'w' || escape == 'W') return kWordClassBody;
  return nullptr;
}

std::string to_pcre2_syntax(const std::string& pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      char e = pattern[i + 1];
      ++i;
      const char* body = class_body(e);
      bool negated = e == 'S' || e == 'W';
      if (body && in_class && !negated) {
        out += body;
      } else if (body && !in_class) {
        out += negated ? "[^" : "[";
        out += body;
        out += ']';
      } else {
        out += '\\';
        out += e;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

struct MatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  MatchState() {
    data = pcre2_match_data_create(4, nullptr);
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~MatchState() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

}  // namespace

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

Regex::Regex(const std::string& pattern) : code_(std::make_shared<Code>()) {
  std::string translated = to_pcre2_syntax(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK | PCRE2_MULTILINE, &error, &offset,
                              nullptr);
  if (!code_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    throw std::runtime_error("invalid regex '" + pattern + "' at offset " +
                             std::to_string(offset) + ": " +
                             reinterpret_cast<const char*>(message));
  }
  pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE);
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  thread_local MatchState state;
  std::vector<std::pair<size_t, size_t>> matches;
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  bool have_last = false;
  size_t last_end = 0;
  while (pos <= text.size()) {
    int rc = pcre2_match(code_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, state.data,
                         state.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      throw std::runtime_error(std::string("regex match failed: ") +
                               reinterpret_cast<const char*>(message));
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(state.data);
    size_t start = ov[0], end = ov[1];
    size_t step = end < text.size() ? utf8_length(static_cast<unsigned char>(text[end])) : 1;
    if (start == end) {
      bool right_after_last = have_last && last_end == end;
      pos = end + step;
      if (right_after_last) continue;
    } else {
      pos = end;
    }
    matches.emplace_back(start, end);
    have_last = true;
    last_end = end;
  }
  return matches;
}

}  // namespace tessera::lm::tokenizer_detail
