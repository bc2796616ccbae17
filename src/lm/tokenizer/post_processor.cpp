#include "lm/tokenizer/post_processor.h"

#include <nlohmann/json.hpp>

#include <stdexcept>

#include "lm/tokenizer/json_util.h"

namespace tessera::lm::tokenizer_detail {

namespace {

using nlohmann::json;

// The single-sequence template: runs of special-token ids, with the sequence at a marked place.
class Template : public PostProcessor {
 public:
  Template(std::vector<int> before, std::vector<int> after)
      : before_(std::move(before)), after_(std::move(after)) {}
  void process(std::vector<int>& ids) const override {
    ids.insert(ids.begin(), before_.begin(), before_.end());
    ids.insert(ids.end(), after_.begin(), after_.end());
  }

 private:
  std::vector<int> before_, after_;
};

class Identity : public PostProcessor {
 public:
  void process(std::vector<int>&) const override {}
};

class Sequence : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  void process(std::vector<int>& ids) const override {
    for (const auto& step : steps_) step->process(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

std::unique_ptr<PostProcessor> make_template(const json& spec, const std::string& file) {
  const json& single = get_array(spec, "single", file, "TemplateProcessing");
  auto specials = spec.find("special_tokens");
  std::vector<int> before, after;
  bool seen_sequence = false;
  for (const auto& item : single) {
    if (item.contains("Sequence")) {
      seen_sequence = true;
      continue;
    }
    if (!item.contains("SpecialToken")) {
      throw std::runtime_error(file + ": TemplateProcessing: unknown template item " + item.dump());
    }
    const std::string& name = get_string(item["SpecialToken"], "id", file, "TemplateProcessing");
    if (specials == spec.end() || !specials->contains(name)) {
      throw std::runtime_error(file + ": TemplateProcessing: special token '" + name +
                               "' missing from special_tokens");
    }
    auto& target = seen_sequence ? after : before;
    for (const auto& id : get_array((*specials)[name], "ids", file, "TemplateProcessing")) {
      target.push_back(id.get<int>());
    }
  }
  return std::make_unique<Template>(std::move(before), std::move(after));
}

// RobertaProcessing / BertProcessing: {"cls": [token, id], "sep": [token, id]}.
int special_id(const json& spec, const char* key, const std::string& file) {
  auto it = spec.find(key);
  if (it == spec.end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer()) {
    throw std::runtime_error(file + ": post_processor needs '" + key + "': [token, id]");
  }
  return (*it)[1].get<int>();
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const json& spec, const std::string& file) {
  std::string type = get_string(spec, "type", file, "post_processor");
  if (type == "TemplateProcessing") return make_template(spec, file);
  if (type == "ByteLevel") return std::make_unique<Identity>();
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    return std::make_unique<Template>(std::vector<int>{special_id(spec, "cls", file)},
                                      std::vector<int>{special_id(spec, "sep", file)});
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PostProcessor>> steps;
    for (const auto& step : get_array(spec, "processors", file, type)) {
      steps.push_back(make_post_processor(step, file));
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  throw std::runtime_error(file + ": unsupported post_processor type '" + type + "'");
}

}  // namespace tessera::lm::tokenizer_detail
