// tokenizer.json "post_processor" section: adds the special tokens around an encoded sequence
// (TemplateProcessing, RobertaProcessing, BertProcessing; ByteLevel changes no ids; Sequence).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tessera::lm::tokenizer_detail {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Called only when special tokens are requested.
  virtual void process(std::vector<int>& ids) const = 0;
};

// Throws std::runtime_error naming `file` and the type for an unsupported post-processor.
std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& spec,
                                                   const std::string& file);

}  // namespace tessera::lm::tokenizer_detail
