// `tessera chat`: an interactive multi-turn conversation. The whole history goes through the
// chat template each turn; the KV cache keeps the tokens the new rendering shares with what the
// model has already seen, so a turn only computes its new tokens.
#include <algorithm>
#include <iostream>
#include <memory>

#include "command.h"
#include "model_options.h"

namespace tessera::cli {
namespace {

struct ChatFlags {
  ModelFlags model;
  GenerationFlags generation;
  std::string system_prompt;
  CLI::Option* system_prompt_option = nullptr;
};

void print_help() {
  std::cout << "The command list:\n"
            << "- 'q' to exit\n"
            << "- 'r' to reset the chat\n"
            << "- 'h' to display these commands\n";
}

class Conversation {
 public:
  Conversation(const lm::LoadedModel& loaded, lm::GenerateOptions options, std::optional<std::string> system_prompt)
      : loaded_(loaded), options_(std::move(options)), system_prompt_(std::move(system_prompt)) {
    reset();
  }

  void reset() {
    messages_ = nlohmann::ordered_json::array();
    if (system_prompt_) messages_.push_back({{"role", "system"}, {"content", *system_prompt_}});
    transcript_ = system_prompt_.value_or("");
    cache_ = loaded_.model->make_cache(options_.max_kv_size);
    cached_.clear();
  }

  void reply(const std::string& query) {
    std::vector<int> ids = prompt_ids(query);
    std::vector<int> fresh = reuse_cache(ids);
    lm::GenerateOptions options = options_;
    options.prompt_cache = &cache_;
    std::string answer;
    std::vector<int> generated;
    bool stopped = false;
    lm::stream_generate(loaded_, fresh, options, [&](const lm::GenerationResponse& r) {
      std::cout << r.text << std::flush;
      answer += r.text;
      generated.push_back(r.token);
      stopped = r.finish_reason == "stop";
      return true;
    });
    std::cout << "\n" << std::flush;
    // The cache now holds the prompt and every generated token but the last.
    cached_ = ids;
    if (!generated.empty()) cached_.insert(cached_.end(), generated.begin(), generated.end() - 1);
    if (stopped) generated.pop_back();
    record_reply(ids, generated, answer);
  }

 private:
  bool templated() const { return has_chat_template(loaded_); }

  // The whole conversation so far plus the new user turn, as prompt token ids. A model
  // without a chat template continues plain text: the transcript, then the query on a new line.
  std::vector<int> prompt_ids(const std::string& query) {
    if (templated()) {
      messages_.push_back({{"role", "user"}, {"content", query}});
      return encode_messages(loaded_, messages_, nlohmann::ordered_json::object());
    }
    if (!transcript_.empty()) transcript_ += "\n";
    transcript_ += query;
    return loaded_.tokenizer->encode(transcript_, true);
  }

  void record_reply(const std::vector<int>& prompt, const std::vector<int>& reply, const std::string& answer) {
    if (templated()) {
      messages_.push_back({{"role", "assistant"}, {"content", answer}});
      return;
    }
    // Decoding prompt and reply together keeps the space that a reply's first token carries.
    std::vector<int> all = prompt;
    all.insert(all.end(), reply.begin(), reply.end());
    transcript_ = loaded_.tokenizer->decode(all, true);
  }

  // Trims the cache back to the longest prefix it shares with `ids` and returns the tokens
  // still to feed (at least one, so that there are logits to sample from).
  std::vector<int> reuse_cache(const std::vector<int>& ids) {
    size_t common = std::mismatch(cached_.begin(), cached_.end(), ids.begin(), ids.end()).first - cached_.begin();
    common = std::min(common, ids.size() - 1);
    size_t drop = cached_.size() - common;
    bool trimmable = std::all_of(cache_.begin(), cache_.end(), [&](const auto& c) { return c->is_trimmable(); });
    if (drop > 0 && !trimmable) {
      cache_ = loaded_.model->make_cache(options_.max_kv_size);
      common = 0;
    } else {
      for (auto& c : cache_) c->trim(static_cast<int>(drop));
    }
    return std::vector<int>(ids.begin() + static_cast<std::ptrdiff_t>(common), ids.end());
  }

  const lm::LoadedModel& loaded_;
  lm::GenerateOptions options_;
  std::optional<std::string> system_prompt_;
  nlohmann::ordered_json messages_;  // with a chat template
  std::string transcript_;   // without one
  lm::Cache cache_;
  std::vector<int> cached_;  // the tokens the cache holds, in order
};

void run(const ChatFlags& flags) {
  lm::LoadedModel loaded = load_model(flags.model, /*decoding=*/true);
  lm::GenerateOptions options = generate_options(flags.generation, loaded);
  std::optional<std::string> system_prompt;
  if (flags.system_prompt_option->count() > 0) system_prompt = flags.system_prompt;
  Conversation conversation(loaded, options, system_prompt);

  std::cout << "[INFO] Starting chat session with " << flags.model.model << ".\n";
  print_help();
  std::string query;
  while (true) {
    std::cout << ">> " << std::flush;
    if (!std::getline(std::cin, query)) {
      std::cout << "\n";
      break;
    }
    if (!query.empty() && query.back() == '\r') query.pop_back();
    if (query.empty()) continue;
    if (query == "q") break;
    if (query == "r") {
      conversation.reset();
      continue;
    }
    if (query == "h") {
      print_help();
      continue;
    }
    conversation.reply(query);
  }
}

void setup(CLI::App& app) {
  auto flags = std::make_shared<ChatFlags>();
  add_model_flags(app, flags->model);
  add_decoding_flags(app, flags->model);
  flags->system_prompt_option =
      app.add_option("--system-prompt", flags->system_prompt, "System prompt to be used for the chat template");
  add_generation_flags(app, flags->generation);
  app.callback([flags] { run(*flags); });
}

const bool registered = register_command({"chat", "Chat with a model interactively (q quits, r resets, h helps)", setup});

}  // namespace
}  // namespace tessera::cli
