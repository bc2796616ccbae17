// Hugging Face tokenizers in C++: the tokenizer.json pipeline (normalizer, pre-tokenizer,
// model, post-processor, decoder, added tokens), SentencePiece tokenizer.model files, and a
// streaming detokenizer for generation.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::lm {

namespace tokenizer_detail {
struct TokenizerImpl;
}

class Tokenizer;

// Turns a stream of token ids into text as the ids arrive. The concatenation of all segments
// equals Tokenizer::decode of all ids; a segment never ends inside a UTF-8 sequence, and the
// decoder's first-token rules (SentencePiece's leading space) apply exactly once.
class StreamingDetokenizer {
 public:
  void add_token(int id);
  // The text that became final since the previous call (possibly empty).
  std::string last_segment();
  // Flushes whatever is held back (an incomplete byte sequence becomes U+FFFD, as decode does).
  void finalize();
  // All text made final so far.
  std::string text() const { return text_; }
  const std::vector<int>& tokens() const { return tokens_; }
  void reset();

 private:
  friend class Tokenizer;
  explicit StreamingDetokenizer(std::shared_ptr<const tokenizer_detail::TokenizerImpl> impl);
  void advance(bool final);

  std::shared_ptr<const tokenizer_detail::TokenizerImpl> impl_;
  std::vector<int> tokens_;
  std::string text_;
  size_t segment_start_ = 0;  // offset in text_ of the text not yet returned by last_segment
  // Decoding restarts from tokens_[prefix_offset_]; the text of tokens_[prefix_offset_,
  // read_offset_) is already part of text_.
  size_t prefix_offset_ = 0;
  size_t read_offset_ = 0;
};

// Copies are cheap (the loaded vocabulary is shared) and all const methods are thread-safe.
class Tokenizer {
 public:
  // A folder with tokenizer.json (or tokenizer.json.gz, or a SentencePiece tokenizer.model)
  // and optionally tokenizer_config.json and chat_template.jinja.
  static Tokenizer from_folder(const std::string& dir);
  // A tokenizer.json (gzip'd when the name ends in .gz) or a tokenizer.model file.
  static Tokenizer from_file(const std::string& tokenizer_json,
                             const std::string& tokenizer_config = "");

  // Invalid UTF-8 in `text` is replaced by U+FFFD first, as Rust's from_utf8_lossy does.
  std::vector<int> encode(std::string_view text, bool add_special_tokens = true) const;
  // Throws std::out_of_range for an id that is not in the vocabulary.
  std::string decode(const std::vector<int>& ids, bool skip_special_tokens = false) const;

  std::string id_to_token(int id) const;
  std::optional<int> token_to_id(const std::string& token) const;
  size_t vocab_size() const;

  std::optional<int> bos_token_id() const;
  std::vector<int> eos_token_ids() const;
  const std::string& bos_token() const;
  const std::string& eos_token() const;
  bool is_special(int id) const;

  const std::string& chat_template() const;
  bool has_chat_template() const;

  StreamingDetokenizer detokenizer() const;

 private:
  explicit Tokenizer(std::shared_ptr<const tokenizer_detail::TokenizerImpl> impl);
  std::shared_ptr<const tokenizer_detail::TokenizerImpl> impl_;
};

}  // namespace tessera::lm
