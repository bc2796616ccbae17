// Bad templates and bad uses of values: the errors Jinja raises, with their positions.
#include "tessera/lm/jinja.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace {

using tessera::jinja::RaisedError;
using tessera::jinja::Template;
using tessera::jinja::TemplateError;
using tessera::jinja::Value;
using testing::HasSubstr;

std::string syntax_error(const std::string& source) {
  try {
    Template t(source);
  } catch (const TemplateError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no syntax error for: " << source;
  return "";
}

std::string render_error(const std::string& source, const nlohmann::ordered_json& variables = nlohmann::ordered_json::object()) {
  Template t(source);
  try {
    std::string out = t.render(tessera::jinja::from_json(variables));
    ADD_FAILURE() << "rendered without error: " << out;
  } catch (const TemplateError& e) {
    return e.what();
  }
  return "";
}

TEST(JinjaSyntaxErrors, UnclosedBlockNamesTheEndAndTheExpectedTags) {
  std::string e = syntax_error("a\n{% if x %}\nb");
  EXPECT_THAT(e, HasSubstr("line 3, column 2"));
  EXPECT_THAT(e, HasSubstr("unexpected end of template, expected 'elif' or 'else' or 'endif' to close 'if'"));
}

TEST(JinjaSyntaxErrors, MissingOperandPointsAtTheTagEnd) {
  EXPECT_THAT(syntax_error("{{ 1 + }}"), HasSubstr("line 1, column 8: expected an expression, got end of print statement"));
  EXPECT_THAT(syntax_error("a\n  {% for x in %}"), HasSubstr("line 2, column 15: expected an expression, got end of statement block"));
}

TEST(JinjaSyntaxErrors, UnknownAndStrayTags) {
  EXPECT_THAT(syntax_error("ok\n{% endfor %}"), HasSubstr("line 2, column 4: encountered unknown tag 'endfor'"));
  EXPECT_THAT(syntax_error("{% include 'x' %}"), HasSubstr("encountered unknown tag 'include'"));
  EXPECT_THAT(syntax_error("{% if a %}{% endfor %}{% endif %}"), HasSubstr("encountered unknown tag 'endfor'"));
}

TEST(JinjaSyntaxErrors, LexicalErrors) {
  EXPECT_THAT(syntax_error("x {{ 'abc }}"), HasSubstr("line 1, column 6: unterminated string literal"));
  EXPECT_THAT(syntax_error("{{ (1 }}"), HasSubstr("column 7: unexpected '}', expected ')'"));
  EXPECT_THAT(syntax_error("{{ a ; b }}"), HasSubstr("column 6: unexpected char ';'"));
  EXPECT_THAT(syntax_error("{# never closed"), HasSubstr("missing end of comment tag"));
  EXPECT_THAT(syntax_error("{{ x"), HasSubstr("unexpected end of template, expected '}}'"));
  EXPECT_THAT(syntax_error("{{ '\\x4' }}"), HasSubstr("truncated \\x escape"));
}

TEST(JinjaSyntaxErrors, UnknownFiltersAndTestsAreRejectedWhenParsing) {
  EXPECT_THAT(syntax_error("\n{{ 'x' | nosuch }}"), HasSubstr("line 2, column 10: no filter named 'nosuch'"));
  EXPECT_THAT(syntax_error("{{ x is nosuch }}"), HasSubstr("no test named 'nosuch'"));
}

TEST(JinjaSyntaxErrors, UnknownFiltersInConditionalCodeFailOnlyWhenEvaluated) {
  EXPECT_EQ(Template("{% if false %}{{ x|nope }}{% endif %}ok").render(Value::dict()), "ok");
  EXPECT_EQ(Template("{{ (x|nope) if false else 1 }}ok").render(Value::dict()), "1ok");
  EXPECT_THAT(render_error("{% if x|nope %}{% endif %}"), HasSubstr("no filter named 'nope'"));
  EXPECT_THAT(render_error("{% if false %}{% else %}{{ x is nopetest }}{% endif %}"), HasSubstr("no test named 'nopetest'"));
  EXPECT_THAT(syntax_error("{% if false %}{% for a in b %}{{ x|nope }}{% endfor %}{% endif %}"), HasSubstr("no filter named 'nope'"));
  EXPECT_THAT(syntax_error("{% for a in [] %}{{ x|nope }}{% endfor %}"), HasSubstr("no filter named 'nope'"));
}

TEST(JinjaSyntaxErrors, DeepNestingIsAnErrorNotACrash) {
  EXPECT_THAT(syntax_error("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}"),
              HasSubstr("nested too deeply"));
  EXPECT_THAT(syntax_error("{{ " + std::string(100000, '-') + "1 }}"), HasSubstr("nested too deeply"));
  std::string sum = "{{ 1";
  for (int i = 0; i < 100000; ++i) {
    sum += " + 1";
  }
  EXPECT_THAT(syntax_error(sum + " }}"), HasSubstr("expression too long"));
  std::string filters = "{{ x";
  for (int i = 0; i < 5000; ++i) {
    filters += "|trim";
  }
  EXPECT_THAT(syntax_error(filters + " }}"), HasSubstr("expression too long"));
  std::string ifs;
  for (int i = 0; i < 10000; ++i) {
    ifs += "{% if true %}";
  }
  EXPECT_THAT(syntax_error(ifs), HasSubstr("nested too deeply"));
}

TEST(JinjaRuntimeErrors, RunawayMacroRecursionIsAnError) {
  EXPECT_THAT(render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"),
              HasSubstr("maximum macro recursion depth (200) exceeded in 'f'"));
  EXPECT_EQ(Template("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}").render(Value::dict()),
            "54321");
}

TEST(JinjaSyntaxErrors, MalformedStatements) {
  EXPECT_THAT(syntax_error("{% for x %}{% endfor %}"), HasSubstr("expected 'in'"));
  EXPECT_THAT(syntax_error("{% set = 1 %}"), HasSubstr("expected a name"));
  EXPECT_THAT(syntax_error("{% macro m(a=1, b) %}{% endmacro %}"), HasSubstr("non-default argument follows default argument"));
  EXPECT_THAT(syntax_error("{% call 1 %}{% endcall %}"), HasSubstr("expected a call expression"));
  EXPECT_THAT(syntax_error("{{ f(a=1, 2) }}"), HasSubstr("positional argument follows keyword argument"));
}

TEST(JinjaUndefined, PrintsEmptyIteratesEmptyAndIsFalsy) {
  Template t("[{{ nope }}][{% for x in nope %}x{% endfor %}][{{ nope|length }}][{{ 'y' if nope else 'n' }}][{{ nope ~ 'z' }}]");
  EXPECT_EQ(t.render(Value::dict()), "[][][0][n][z]");
}

TEST(JinjaUndefined, MisuseRaisesWithTheNameAndTheLine) {
  EXPECT_THAT(render_error("a\n{{ x.y }}"), HasSubstr("line 2: 'x' is undefined"));
  EXPECT_THAT(render_error("{{ x + 1 }}"), HasSubstr("'x' is undefined"));
  EXPECT_THAT(render_error("{{ x() }}"), HasSubstr("'x' is undefined"));
  EXPECT_THAT(render_error("{{ x[0] }}"), HasSubstr("'x' is undefined"));
  EXPECT_THAT(render_error("{{ -x }}"), HasSubstr("'x' is undefined"));
  EXPECT_THAT(render_error("{{ x < 1 }}"), HasSubstr("'x' is undefined"));
  EXPECT_THAT(render_error("{{ d.a.b }}", {{"d", nlohmann::ordered_json::object()}}), HasSubstr("'dict object' has no attribute 'a'"));
  EXPECT_THAT(render_error("{{ xs[5] + 1 }}", {{"xs", {1, 2}}}), HasSubstr("list object has no element 5"));
  EXPECT_THAT(render_error("{{ none.foo.bar }}"), HasSubstr("'None' has no attribute 'foo'"));
  EXPECT_THAT(render_error("{{ x|tojson }}"), HasSubstr("Object of type Undefined is not JSON serializable"));
  EXPECT_THAT(render_error("{{ ('yes' if false) + 'x' }}"), HasSubstr("inline if-expression on line 1 evaluated to false"));
}

TEST(JinjaRuntimeErrors, TypeErrorsUsePythonMessages) {
  EXPECT_THAT(render_error("{{ 'a' + 1 }}"), HasSubstr("can only concatenate str (not \"int\") to str"));
  EXPECT_THAT(render_error("{{ 1 + 'a' }}"), HasSubstr("unsupported operand type(s) for +: 'int' and 'str'"));
  EXPECT_THAT(render_error("{{ 1 / 0 }}"), HasSubstr("division by zero"));
  EXPECT_THAT(render_error("{{ 1 < 'a' }}"), HasSubstr("'<' not supported between instances of 'int' and 'str'"));
  EXPECT_THAT(render_error("{{ 1 in 'abc' }}"), HasSubstr("'in <string>' requires string as left operand, not int"));
  EXPECT_THAT(render_error("{% for a, b in [1] %}{% endfor %}"), HasSubstr("'int' object is not iterable"));
  EXPECT_THAT(render_error("{% for a, b in [[1, 2, 3]] %}{% endfor %}"), HasSubstr("too many values to unpack (expected 2)"));
  EXPECT_THAT(render_error("{% set ns = 1 %}{% set ns.a = 2 %}"), HasSubstr("cannot assign attribute on non-namespace object"));
  EXPECT_THAT(render_error("{{ 'x'() }}"), HasSubstr("'str' object is not callable"));
  EXPECT_THAT(render_error("{{ 2 ** 64 }}"), HasSubstr("integer result does not fit in 64 bits"));
  EXPECT_THAT(render_error("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"), HasSubstr("macro 'm' takes not more than 1 argument(s)"));
  EXPECT_THAT(render_error("{{ 'a'.split('') }}"), HasSubstr("empty separator"));
}

TEST(JinjaRuntimeErrors, ValuesNestedBeyondPythonsRecursionLimitAreErrors) {
  const std::string nest = "{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% set ns.l = [ns.l] %}{% endfor %}";
  EXPECT_THAT(render_error(nest + "{{ ns.l }}"), HasSubstr("nested too deeply"));
  EXPECT_THAT(render_error(nest + "{{ ns.l|tojson }}"), HasSubstr("Circular reference"));
  const std::string shallow = "{% set ns = namespace(l=[]) %}{% for i in range(3) %}{% set ns.l = [ns.l] %}{% endfor %}";
  EXPECT_EQ(Template(shallow + "{{ ns.l }}{{ ns.l|tojson }}").render(Value::dict()), "[[[[]]]][[[[]]]]");
  EXPECT_THAT(render_error("{{ 'ab' * 1000000000000 }}"), HasSubstr("repetition result too large"));
}

TEST(JinjaRaiseException, ThrowsExactlyTheMessage) {
  Template t("before\n{% if messages|length > 1 %}{{ raise_exception('Only one message, got ' ~ messages|length) }}{% endif %}ok");
  EXPECT_EQ(t.render(tessera::jinja::from_json(nlohmann::ordered_json{{"messages", {1}}})), "before\nok");
  try {
    t.render(tessera::jinja::from_json(nlohmann::ordered_json{{"messages", {1, 2}}}));
    FAIL() << "raise_exception did not throw";
  } catch (const RaisedError& e) {
    EXPECT_STREQ(e.what(), "Only one message, got 2");
  }
}

TEST(JinjaTemplate, ParsesOnceAndRendersManyTimesWithDifferentVariables) {
  Template t("{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}{{ extra }}");
  for (int i = 0; i < 3; ++i) {
    nlohmann::ordered_json vars = {{"messages", {{{"role", "user"}, {"content", std::to_string(i)}}}}, {"extra", i}};
    EXPECT_EQ(t.render(tessera::jinja::from_json(vars)), "user:" + std::to_string(i) + ";" + std::to_string(i));
  }
}

TEST(JinjaTemplate, VariablesMustBeADict) {
  Template t("x");
  EXPECT_THROW(t.render(Value(1)), TemplateError);
}

TEST(JinjaTemplate, StrftimeNowFormatsTheCurrentDate) {
  Template t("{{ strftime_now('%Y') }}");
  std::string year = t.render(Value::dict());
  ASSERT_EQ(year.size(), 4u);
  EXPECT_GE(std::stoi(year), 2024);
}

TEST(JinjaValue, JsonKeepsKeyOrderAndNumberKinds) {
  auto v = tessera::jinja::from_json(nlohmann::ordered_json::parse(R"({"z": 1, "a": [1.0, 2, true, null, "s"]})"));
  EXPECT_EQ(v.repr(), "{'z': 1, 'a': [1.0, 2, True, None, 's']}");
  EXPECT_EQ(tessera::jinja::to_json(v), R"({"z": 1, "a": [1.0, 2, true, null, "s"]})");
  EXPECT_EQ(tessera::jinja::to_json(v, 2), "{\n  \"z\": 1,\n  \"a\": [\n    1.0,\n    2,\n    true,\n    null,\n    \"s\"\n  ]\n}");
}

}  // namespace
