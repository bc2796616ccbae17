#include "tessera/lm/tokenizer.h"

#include "lm/tokenizer/tokenizer_impl.h"

namespace tessera::lm {

namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";
// Tokens decoded together before the detokenizer re-decodes everything instead.
constexpr size_t kMaxWindow = 32;

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

StreamingDetokenizer::StreamingDetokenizer(
    std::shared_ptr<const tokenizer_detail::TokenizerImpl> impl)
    : impl_(std::move(impl)) {}

void StreamingDetokenizer::add_token(int id) {
  if (!impl_->id_to_token(id)) {
    throw std::out_of_range("token id " + std::to_string(id) + " is out of range");
  }
  tokens_.push_back(id);
  advance(false);
}

// Decodes the tokens from prefix_offset_ on, in the context of the tokens before read_offset_
// (whose text is already out), so that first-token rules and multi-token characters come out
// as a full decode produces them. Text that ends in U+FFFD may be an incomplete character and
// waits for the next token.
void StreamingDetokenizer::advance(bool final) {
  std::vector<int> window(tokens_.begin() + static_cast<long>(prefix_offset_), tokens_.end());
  std::vector<int> context(tokens_.begin() + static_cast<long>(prefix_offset_),
                           tokens_.begin() + static_cast<long>(read_offset_));
  std::string prefix_text = impl_->decode(context, false);
  std::string new_text = impl_->decode(window, false);
  if (new_text.size() > prefix_text.size() && starts_with(new_text, prefix_text)) {
    if (!final && ends_with(new_text, kReplacementChar)) return;
    text_ += new_text.substr(prefix_text.size());
  } else if (window.size() > kMaxWindow) {
    // A decoder whose output is not additive over this window: fall back to the full text.
    std::string full = impl_->decode(tokens_, false);
    if (!starts_with(full, text_) || ends_with(full, kReplacementChar)) return;
    text_ = std::move(full);
  } else {
    return;
  }
  prefix_offset_ = read_offset_;
  read_offset_ = tokens_.size();
}

std::string StreamingDetokenizer::last_segment() {
  std::string segment = text_.substr(segment_start_);
  segment_start_ = text_.size();
  return segment;
}

void StreamingDetokenizer::finalize() {
  if (read_offset_ == tokens_.size()) return;
  std::string full = impl_->decode(tokens_, false);
  if (starts_with(full, text_)) {
    text_ = std::move(full);
  } else {
    advance(true);
  }
  prefix_offset_ = read_offset_ = tokens_.size();
}

void StreamingDetokenizer::reset() {
  tokens_.clear();
  text_.clear();
  segment_start_ = prefix_offset_ = read_offset_ = 0;
}

}  // namespace tessera::lm
