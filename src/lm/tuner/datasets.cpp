// jsonl training data: format detection, tokenization through the chat template, batching.
#include <algorithm>
#include <fstream>
#include <numeric>
#include <stdexcept>

#include "tessera/lm/chat_template.h"
#include "tessera/lm/tokenizer.h"
#include "tessera/lm/tuner.h"
#include "tessera/ops.h"

namespace tessera::lm {

namespace {

using ojson = nlohmann::ordered_json;

enum class Format { text, completion, chat };

Format detect(const ojson& record) {
  if (record.contains("messages")) return Format::chat;
  if (record.contains("prompt") && record.contains("completion")) return Format::completion;
  if (record.contains("text")) return Format::text;
  throw std::invalid_argument("unsupported record: expected \"text\", \"prompt\" and \"completion\", or \"messages\"");
}

const char* format_name(Format f) {
  switch (f) {
    case Format::text: return "text";
    case Format::completion: return "prompt/completion";
    case Format::chat: return "messages";
  }
  return "";
}

const std::string& string_field(const ojson& record, const char* key) {
  auto it = record.find(key);
  if (it == record.end() || !it->is_string()) {
    throw std::invalid_argument(std::string("\"") + key + "\" must be a string");
  }
  return it->get_ref<const std::string&>();
}

bool has_template(const LoadedModel& model) { return model.chat_template && !model.chat_template->empty(); }

std::vector<int> encode_chat(const LoadedModel& model, const ojson& messages, const ojson& tools, bool generation) {
  std::string text = model.chat_template->apply(messages, tools, generation, ojson::object());
  return model.tokenizer->encode(text, false);
}

Example tokenize(const LoadedModel& model, Format format, const ojson& record) {
  const Tokenizer& tok = *model.tokenizer;
  const auto eos = tok.eos_token_ids();
  Example ex;
  if (format == Format::text) {
    ex.tokens = tok.encode(string_field(record, "text"), true);
    if (!eos.empty() && (ex.tokens.empty() || std::find(eos.begin(), eos.end(), ex.tokens.back()) == eos.end())) {
      ex.tokens.push_back(eos.front());
    }
    return ex;
  }
  if (format == Format::completion) {
    const std::string& prompt = string_field(record, "prompt");
    const std::string& completion = string_field(record, "completion");
    if (has_template(model)) {
      ojson user = ojson::array({{{"role", "user"}, {"content", prompt}}});
      ojson both = user;
      both.push_back({{"role", "assistant"}, {"content", completion}});
      ex.prompt_tokens = static_cast<int>(encode_chat(model, user, ojson(), true).size());
      ex.tokens = encode_chat(model, both, ojson(), false);
    } else {
      ex.prompt_tokens = static_cast<int>(tok.encode(prompt, true).size());
      ex.tokens = tok.encode(prompt + completion, true);
      if (!eos.empty()) ex.tokens.push_back(eos.front());
    }
    return ex;
  }
  if (!has_template(model)) throw std::invalid_argument("chat records need a model with a chat template");
  const ojson& messages = record.at("messages");
  if (!messages.is_array() || messages.empty()) throw std::invalid_argument("\"messages\" must be a non-empty list");
  ojson tools = record.contains("tools") ? record.at("tools") : ojson();
  ojson prompt(ojson::value_t::array);
  for (size_t i = 0; i + 1 < messages.size(); ++i) prompt.push_back(messages[i]);
  ex.tokens = encode_chat(model, messages, tools, false);
  ex.prompt_tokens = prompt.empty() ? 0 : static_cast<int>(encode_chat(model, prompt, tools, true).size());
  return ex;
}

}  // namespace

std::vector<Example> load_jsonl(const std::string& path, const LoadedModel& model) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open the data file");
  if (!model.tokenizer) throw std::runtime_error(model.path + ": the model has no tokenizer");
  std::vector<Example> examples;
  std::optional<Format> format;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      ojson record = ojson::parse(line);
      if (!record.is_object()) throw std::invalid_argument("a record must be a JSON object");
      Format f = detect(record);
      if (!format) format = f;
      if (f != *format) {
        throw std::invalid_argument(std::string("record is ") + format_name(f) + " but the file is " +
                                    format_name(*format));
      }
      examples.push_back(tokenize(model, *format, record));
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ":" + std::to_string(number) + ": " + e.what());
    }
  }
  return examples;
}

Batcher::Batcher(const std::vector<Example>& examples, const BatchOptions& options, const std::string& name,
                 const std::function<void(const std::string&)>& warn)
    : examples_(&examples), options_(options) {
  if (options.batch_size <= 0) throw std::invalid_argument("batch size must be positive");
  if (options.max_seq_length < 2) throw std::invalid_argument("max sequence length must be at least 2");
  if (examples.size() < static_cast<size_t>(options.batch_size)) {
    throw std::invalid_argument(name + " has " + std::to_string(examples.size()) +
                                " examples, fewer than the batch size " + std::to_string(options.batch_size));
  }
  size_t longest = 0;
  for (const auto& e : examples) longest = std::max(longest, e.tokens.size());
  if (warn && longest > static_cast<size_t>(options.max_seq_length)) {
    warn("[WARNING] Some sequences of " + name + " are longer than " + std::to_string(options.max_seq_length) +
         " tokens. The longest is " + std::to_string(longest) + " tokens; they will be truncated to " +
         std::to_string(options.max_seq_length) + ".");
  }
  std::vector<size_t> order(examples.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return examples[a].tokens.size() < examples[b].tokens.size(); });
  const size_t bs = static_cast<size_t>(options.batch_size);
  for (size_t i = 0; i + bs <= order.size(); i += bs) groups_.emplace_back(order.begin() + i, order.begin() + i + bs);
}

Batch Batcher::batch(size_t i) const {
  const auto& group = groups_.at(i);
  size_t width = 0;
  for (size_t k : group) width = std::max(width, (*examples_)[k].tokens.size());
  width = std::min(width, static_cast<size_t>(options_.max_seq_length));
  width = std::max<size_t>(width, 2);
  std::vector<int> tokens(group.size() * width, 0);
  std::vector<float> mask(group.size() * width, 0.0f);
  int targets = 0;
  for (size_t row = 0; row < group.size(); ++row) {
    const Example& ex = (*examples_)[group[row]];
    const size_t n = std::min(ex.tokens.size(), width);
    const size_t first = options_.mask_prompt ? std::max<size_t>(1, ex.prompt_tokens) : 1;
    for (size_t t = 0; t < n; ++t) {
      tokens[row * width + t] = ex.tokens[t];
      if (t >= first) {
        mask[row * width + t] = 1.0f;
        ++targets;
      }
    }
  }
  const Shape shape{static_cast<int64_t>(group.size()), static_cast<int64_t>(width)};
  return {array(tokens, shape, int32), array(mask, shape, float32), targets};
}

}  // namespace tessera::lm
