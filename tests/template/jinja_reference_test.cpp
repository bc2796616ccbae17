// Renders each case of jinja_cases.jsonl (expected outputs produced by Python Jinja2 3.1 set up
// as transformers sets it up; see make_jinja_cases.py) and compares byte for byte.
#include "tessera/lm/jinja.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

namespace {

using nlohmann::ordered_json;

struct Case {
  std::string name;
  ordered_json data;
};

std::vector<Case> load_cases() {
  std::vector<Case> cases;
  std::ifstream in(std::string(TESSERA_SOURCE_DIR) + "/tests/template/jinja_cases.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) {
      ordered_json data = ordered_json::parse(line);
      cases.push_back({data["name"].get<std::string>(), std::move(data)});
    }
  }
  return cases;
}

class JinjaReference : public testing::TestWithParam<Case> {};

TEST_P(JinjaReference, RendersLikePythonJinja2) {
  const ordered_json& c = GetParam().data;
  const std::string source = c["template"].get<std::string>();
  SCOPED_TRACE("template: " + source);
  tessera::jinja::Template tpl(source);
  ASSERT_TRUE(c.contains("expected")) << "reference cases are all expected to render";
  EXPECT_EQ(tpl.render(tessera::jinja::from_json(c["variables"])), c["expected"].get<std::string>());
}

INSTANTIATE_TEST_SUITE_P(Cases, JinjaReference, testing::ValuesIn(load_cases()),
                         [](const testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(JinjaReferenceCases, AreLoaded) {
  EXPECT_GT(load_cases().size(), 50u);
}

}  // namespace
