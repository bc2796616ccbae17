// Recursive-descent parser following Jinja2's grammar and operator precedence.
#include "lm/template/ast.h"
#include "lm/template/lexer.h"

#include <cstdlib>
#include <initializer_list>

namespace tessera::jinja {

namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  std::unique_ptr<Body> parse_template() {
    auto body = parse_body({});
    for (const auto& unknown : unknown_names_) {
      if (!unknown.deferred) {
        fail(unknown.message, &unknown.at);
      }
    }
    return body;
  }

 private:
  const Token& current() const { return tokens_[pos_]; }
  const Token& peek(size_t ahead = 1) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  const Token& next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }

  [[noreturn]] void fail(const std::string& message, const Token* at = nullptr) const {
    const Token& t = at ? *at : current();
    throw TemplateError("template syntax error at line " + std::to_string(t.line) + ", column " +
                        std::to_string(t.column) + ": " + message);
  }
  [[noreturn]] void expected(const std::string& what) const {
    fail("expected " + what + ", got " + describe(current()));
  }

  bool is_op(std::string_view op) const { return current().type == TokenType::Operator && current().value == op; }
  bool is_name(std::string_view name) const { return current().type == TokenType::Name && current().value == name; }
  bool skip_op(std::string_view op) {
    if (is_op(op)) {
      next();
      return true;
    }
    return false;
  }
  bool skip_name(std::string_view name) {
    if (is_name(name)) {
      next();
      return true;
    }
    return false;
  }
  void expect_op(std::string_view op) {
    if (!skip_op(op)) {
      expected("'" + std::string(op) + "'");
    }
  }
  std::string expect_name() {
    if (current().type != TokenType::Name) {
      expected("a name");
    }
    return next().value;
  }
  void expect_block_end() {
    if (current().type != TokenType::BlockEnd) {
      expected("end of statement block");
    }
    next();
  }

  // ---- statements ----

  // Parses nodes until a block tag whose name is in `end_tags`; leaves the parser on that
  // name (tag_name_ holds it). With no end tags, parses to the end of the template.
  std::unique_ptr<Body> parse_body(std::initializer_list<std::string_view> end_tags) {
    auto body = std::make_unique<Body>(current().line);
    while (true) {
      const Token& t = current();
      if (t.type == TokenType::End) {
        if (end_tags.size() == 0) {
          return body;
        }
        std::string wanted;
        for (auto tag : end_tags) {
          wanted += (wanted.empty() ? "'" : " or '") + std::string(tag) + "'";
        }
        fail("unexpected end of template, expected " + wanted + " to close '" + open_tag_ + "'");
      }
      if (t.type == TokenType::Text) {
        body->nodes.push_back(std::make_unique<TextNode>(t.line, t.value));
        next();
      } else if (t.type == TokenType::VariableBegin) {
        next();
        int line = current().line;
        auto expr = parse_tuple(true, false);
        if (current().type != TokenType::VariableEnd) {
          expected("end of print statement");
        }
        next();
        body->nodes.push_back(std::make_unique<OutputNode>(line, std::move(expr)));
      } else if (t.type == TokenType::BlockBegin) {
        next();
        if (current().type != TokenType::Name) {
          expected("a statement name");
        }
        tag_name_ = current().value;
        for (auto tag : end_tags) {
          if (tag_name_ == tag) {
            return body;
          }
        }
        body->nodes.push_back(parse_statement());
      } else {
        expected("template data");
      }
    }
  }

  // Bounds the parser's recursion so that absurdly nested input is an error, not a crash.
  class NestingGuard {
   public:
    explicit NestingGuard(Parser& parser) : parser_(parser) {
      if (++parser.nesting_ > kMaxNesting) {
        parser.fail("template nested too deeply (more than " + std::to_string(kMaxNesting) + " levels)");
      }
    }
    ~NestingGuard() { --parser_.nesting_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;

   private:
    static constexpr int kMaxNesting = 200;
    Parser& parser_;
  };

  // Operator chains (a + b + ...) build left-deep trees; bound them like nesting.
  void count_link(int& links) {
    constexpr int kMaxChain = 1000;
    if (++links > kMaxChain) {
      fail("expression too long (more than " + std::to_string(kMaxChain) + " chained operations)");
    }
  }

  NodePtr parse_statement() {
    NestingGuard nesting(*this);
    const Token& t = current();
    const std::string name = t.value;
    std::string saved_open = open_tag_;
    open_tag_ = name;
    next();
    NodePtr node;
    if (name == "if") {
      node = parse_if(t.line);
    } else if (name == "for") {
      node = parse_for(t.line);
    } else if (name == "set") {
      node = parse_set(t.line);
    } else if (name == "macro") {
      node = parse_macro(t.line);
    } else if (name == "call") {
      node = parse_call_block(t.line);
    } else if (name == "filter") {
      node = parse_filter_block(t.line);
    } else if (name == "with") {
      node = parse_with(t.line);
    } else if (name == "generation") {
      expect_block_end();
      auto body = parse_body({"endgeneration"});
      next();
      expect_block_end();
      node = std::move(body);
    } else if (name == "break" || name == "continue") {
      expect_block_end();
      node = std::make_unique<LoopControlNode>(t.line, name == "break" ? Renderer::Flow::Break : Renderer::Flow::Continue);
    } else {
      fail("encountered unknown tag '" + name + "'", &t);
    }
    open_tag_ = saved_open;
    return node;
  }

  NodePtr parse_if(int line) {
    auto node = std::make_unique<IfNode>(line);
    SoftScope soft(*this, true);
    while (true) {
      auto condition = parse_tuple(false, false);
      expect_block_end();
      auto body = parse_body({"elif", "else", "endif"});
      node->branches.emplace_back(std::move(condition), std::move(body));
      std::string tag = next().value;
      if (tag == "elif") {
        continue;
      }
      if (tag == "else") {
        expect_block_end();
        node->otherwise = parse_body({"endif"});
        next();
      }
      expect_block_end();
      return node;
    }
  }

  NodePtr parse_for(int line) {
    auto node = std::make_unique<ForNode>(line);
    SoftScope hard(*this, false);
    node->target = parse_target(false);
    if (!skip_name("in")) {
      expected("'in'");
    }
    node->iterable = parse_tuple(false, false);
    if (skip_name("if")) {
      node->filter = parse_expression();
    }
    if (skip_name("recursive")) {
      fail("recursive loops are not supported");
    }
    expect_block_end();
    node->body = parse_body({"endfor", "else"});
    if (next().value == "else") {
      expect_block_end();
      node->otherwise = parse_body({"endfor"});
      next();
    }
    expect_block_end();
    return node;
  }

  NodePtr parse_set(int line) {
    Target target = parse_target(true);
    if (skip_op("=")) {
      auto node = std::make_unique<SetNode>(line);
      node->target = std::move(target);
      node->value = parse_tuple(true, false);
      expect_block_end();
      return node;
    }
    auto node = std::make_unique<SetBlockNode>(line);
    node->target = std::move(target);
    while (skip_op("|")) {
      node->filters.push_back(parse_filter(nullptr));
    }
    expect_block_end();
    node->body = parse_body({"endset"});
    next();
    expect_block_end();
    return node;
  }

  NodePtr parse_with(int line) {
    auto node = std::make_unique<WithNode>(line);
    while (current().type != TokenType::BlockEnd) {
      if (!node->assignments.empty()) {
        expect_op(",");
      }
      Target target = parse_target(false);
      expect_op("=");
      node->assignments.emplace_back(std::move(target), parse_expression());
    }
    next();
    node->body = parse_body({"endwith"});
    next();
    expect_block_end();
    return node;
  }

  Target parse_target(bool allow_attribute) {
    Target target;
    bool parenthesized = skip_op("(");
    while (true) {
      target.names.push_back(expect_name());
      if (allow_attribute && !parenthesized && target.names.size() == 1 && skip_op(".")) {
        target.attribute = expect_name();
        return target;
      }
      if (!skip_op(",")) {
        break;
      }
      target.unpack = true;
      if (current().type != TokenType::Name) {
        break;
      }
    }
    if (parenthesized) {
      target.unpack = true;
      expect_op(")");
    }
    return target;
  }

  void parse_signature(MacroNode& macro) {
    expect_op("(");
    while (!is_op(")")) {
      if (!macro.params.empty()) {
        expect_op(",");
      }
      std::string param = expect_name();
      ExprPtr default_value;
      if (skip_op("=")) {
        default_value = parse_expression();
      } else if (!macro.params.empty() && macro.params.back().second) {
        fail("non-default argument follows default argument");
      }
      macro.params.emplace_back(std::move(param), std::move(default_value));
    }
    next();
  }

  NodePtr parse_macro(int line) {
    auto node = std::make_unique<MacroNode>(line);
    SoftScope hard(*this, false);
    node->name = expect_name();
    parse_signature(*node);
    expect_block_end();
    node->body = parse_body({"endmacro"});
    next();
    expect_block_end();
    return node;
  }

  NodePtr parse_call_block(int line) {
    auto node = std::make_unique<CallBlockNode>(line);
    SoftScope hard(*this, false);
    node->caller.name = "caller";
    node->caller.line = line;
    if (is_op("(")) {
      parse_signature(node->caller);
    }
    ExprPtr call = parse_expression();
    if (!dynamic_cast<CallExpr*>(call.get())) {
      fail("expected a call expression after 'call'");
    }
    node->call.reset(static_cast<CallExpr*>(call.release()));
    expect_block_end();
    node->caller.body = parse_body({"endcall"});
    next();
    expect_block_end();
    return node;
  }

  NodePtr parse_filter_block(int line) {
    auto node = std::make_unique<FilterBlockNode>(line);
    SoftScope hard(*this, false);
    do {
      node->filters.push_back(parse_filter(nullptr));
    } while (skip_op("|"));
    expect_block_end();
    node->body = parse_body({"endfilter"});
    next();
    expect_block_end();
    return node;
  }

  // ---- expressions, lowest precedence first ----

  // A comma-separated list becomes a tuple: `{{ a, b }}`, `for x in a, b`.
  ExprPtr parse_tuple(bool with_condition, bool explicit_parentheses, bool simplified = false) {
    int line = current().line;
    std::vector<ExprPtr> items;
    bool saw_comma = false;
    while (true) {
      if (!items.empty()) {
        if (!skip_op(",")) {
          break;
        }
        saw_comma = true;
      }
      if (is_tuple_end(explicit_parentheses)) {
        break;
      }
      items.push_back(simplified ? parse_primary_with_postfix() : with_condition ? parse_expression() : parse_or());
    }
    if (!saw_comma) {
      if (items.empty()) {
        if (explicit_parentheses) {
          return std::make_unique<ListExpr>(line, true);
        }
        expected("an expression");
      }
      return std::move(items.front());
    }
    auto tuple = std::make_unique<ListExpr>(line, true);
    tuple->items = std::move(items);
    return tuple;
  }

  bool is_tuple_end(bool explicit_parentheses) const {
    const Token& t = current();
    if (t.type == TokenType::VariableEnd || t.type == TokenType::BlockEnd || t.type == TokenType::End) {
      return true;
    }
    if (explicit_parentheses) {
      return is_op(")");
    }
    return t.type == TokenType::Name && (t.value == "in" || t.value == "if" || t.value == "recursive");
  }

  ExprPtr parse_primary_with_postfix() { return parse_postfix(parse_primary()); }

  ExprPtr parse_expression() {
    const size_t first_unknown = unknown_names_.size();
    ExprPtr expr = parse_or();
    bool conditional = is_name("if");
    while (is_name("if")) {
      int line = next().line;
      auto conditional = std::make_unique<ConditionalExpr>(line);
      conditional->then = std::move(expr);
      conditional->condition = parse_or();
      if (skip_name("else")) {
        conditional->otherwise = parse_expression();
      }
      expr = std::move(conditional);
    }
    if (conditional) {
      defer_unknown_names(first_unknown);
    }
    return expr;
  }

  ExprPtr parse_or() {
    ExprPtr lhs = parse_and();
    int links = 0;
    while (is_name("or")) {
      count_link(links);
      int line = next().line;
      lhs = std::make_unique<BinaryExpr>(line, "or", std::move(lhs), parse_and());
    }
    return lhs;
  }

  ExprPtr parse_and() {
    ExprPtr lhs = parse_not();
    int links = 0;
    while (is_name("and")) {
      count_link(links);
      int line = next().line;
      lhs = std::make_unique<BinaryExpr>(line, "and", std::move(lhs), parse_not());
    }
    return lhs;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      NestingGuard nesting(*this);
      int line = next().line;
      return std::make_unique<UnaryExpr>(line, "not", parse_not());
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    int line = current().line;
    ExprPtr first = parse_math1();
    std::unique_ptr<CompareExpr> compare;
    while (true) {
      std::string op;
      const Token& t = current();
      if (t.type == TokenType::Operator &&
          (t.value == "==" || t.value == "!=" || t.value == "<" || t.value == ">" || t.value == "<=" || t.value == ">=")) {
        op = t.value;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && peek().type == TokenType::Name && peek().value == "in") {
        op = "not in";
        next();
        next();
      } else {
        break;
      }
      if (!compare) {
        compare = std::make_unique<CompareExpr>(line);
        compare->first = std::move(first);
      }
      compare->rest.emplace_back(op, parse_math1());
      if (compare->rest.size() > 1000) {
        fail("expression too long (more than 1000 chained comparisons)");
      }
    }
    if (compare) {
      return compare;
    }
    return first;
  }

  ExprPtr parse_binary_level(std::initializer_list<std::string_view> ops, ExprPtr (Parser::*operand)()) {
    ExprPtr lhs = (this->*operand)();
    int links = 0;
    while (true) {
      bool matched = false;
      for (auto op : ops) {
        if (is_op(op)) {
          count_link(links);
          int line = next().line;
          lhs = std::make_unique<BinaryExpr>(line, std::string(op), std::move(lhs), (this->*operand)());
          matched = true;
          break;
        }
      }
      if (!matched) {
        return lhs;
      }
    }
  }

  ExprPtr parse_math1() { return parse_binary_level({"+", "-"}, &Parser::parse_concat); }
  ExprPtr parse_concat() { return parse_binary_level({"~"}, &Parser::parse_math2); }
  ExprPtr parse_math2() { return parse_binary_level({"*", "/", "//", "%"}, &Parser::parse_pow); }
  ExprPtr parse_pow() { return parse_binary_level({"**"}, &Parser::parse_unary_filtered); }
  ExprPtr parse_unary_filtered() { return parse_unary(true); }

  ExprPtr parse_unary(bool with_filter) {
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      NestingGuard nesting(*this);
      node = std::make_unique<UnaryExpr>(t.line, t.value, parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) {
      node = parse_filter_chain(std::move(node));
    }
    return node;
  }

  ExprPtr parse_primary() {
    NestingGuard nesting(*this);
    const Token& t = current();
    switch (t.type) {
      case TokenType::Name: {
        next();
        if (t.value == "true" || t.value == "True") {
          return std::make_unique<Literal>(t.line, Value(true));
        }
        if (t.value == "false" || t.value == "False") {
          return std::make_unique<Literal>(t.line, Value(false));
        }
        if (t.value == "none" || t.value == "None") {
          return std::make_unique<Literal>(t.line, Value::none());
        }
        return std::make_unique<NameExpr>(t.line, t.value);
      }
      case TokenType::String: {
        std::string value = next().value;
        while (current().type == TokenType::String) {
          value += next().value;
        }
        return std::make_unique<Literal>(t.line, Value(std::move(value)));
      }
      case TokenType::Integer: {
        next();
        errno = 0;
        long long v = std::strtoll(t.value.c_str(), nullptr, 10);
        if (errno == ERANGE) {
          fail("integer literal out of range", &t);
        }
        return std::make_unique<Literal>(t.line, Value(static_cast<int64_t>(v)));
      }
      case TokenType::Float:
        next();
        return std::make_unique<Literal>(t.line, Value(std::strtod(t.value.c_str(), nullptr)));
      case TokenType::Operator:
        if (t.value == "(") {
          next();
          ExprPtr inner = parse_tuple(true, true);
          expect_op(")");
          return inner;
        }
        if (t.value == "[") {
          return parse_list();
        }
        if (t.value == "{") {
          return parse_dict();
        }
        break;
      default:
        break;
    }
    expected("an expression");
  }

  ExprPtr parse_list() {
    auto list = std::make_unique<ListExpr>(next().line, false);
    while (!is_op("]")) {
      if (!list->items.empty()) {
        expect_op(",");
        if (is_op("]")) {
          break;
        }
      }
      list->items.push_back(parse_expression());
    }
    next();
    return list;
  }

  ExprPtr parse_dict() {
    auto dict = std::make_unique<DictExpr>(next().line);
    while (!is_op("}")) {
      if (!dict->items.empty()) {
        expect_op(",");
        if (is_op("}")) {
          break;
        }
      }
      ExprPtr key = parse_expression();
      expect_op(":");
      dict->items.emplace_back(std::move(key), parse_expression());
    }
    next();
    return dict;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    int links = 0;
    while (true) {
      count_link(links);
      if (is_op(".")) {
        int line = next().line;
        const Token& t = current();
        if (t.type == TokenType::Name) {
          node = std::make_unique<AttributeExpr>(line, std::move(node), next().value);
        } else if (t.type == TokenType::Integer) {
          node = std::make_unique<ItemExpr>(line, std::move(node),
                                            std::make_unique<Literal>(line, Value(static_cast<int64_t>(std::stoll(next().value)))));
        } else {
          expected("an attribute name");
        }
      } else if (is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object) {
    int line = next().line;
    std::vector<ExprPtr> parts;
    bool is_slice = false;
    ExprPtr slice_parts[3];
    int part = 0;
    while (!is_op("]")) {
      if (skip_op(":")) {
        is_slice = true;
        if (++part > 2) {
          expected("']'");
        }
        continue;
      }
      if (slice_parts[part]) {
        expected("':' or ']'");
      }
      slice_parts[part] = parse_expression();
      if (!is_slice && is_op(",")) {
        auto tuple = std::make_unique<ListExpr>(line, true);
        tuple->items.push_back(std::move(slice_parts[0]));
        while (skip_op(",") && !is_op("]")) {
          tuple->items.push_back(parse_expression());
        }
        slice_parts[0] = std::move(tuple);
      }
    }
    next();
    if (!is_slice) {
      if (!slice_parts[0]) {
        fail("expected an index inside '[]'");
      }
      return std::make_unique<ItemExpr>(line, std::move(object), std::move(slice_parts[0]));
    }
    auto slice = std::make_unique<SliceExpr>(line);
    slice->object = std::move(object);
    slice->start = std::move(slice_parts[0]);
    slice->stop = std::move(slice_parts[1]);
    slice->step = std::move(slice_parts[2]);
    return slice;
  }

  Arguments parse_arguments() {
    expect_op("(");
    Arguments args;
    while (!is_op(")")) {
      if (args.positional.size() + args.keyword.size() > 0) {
        expect_op(",");
        if (is_op(")")) {
          break;
        }
      }
      if (current().type == TokenType::Name && peek().type == TokenType::Operator && peek().value == "=") {
        std::string key = next().value;
        next();
        args.keyword.emplace_back(std::move(key), parse_expression());
      } else {
        if (!args.keyword.empty()) {
          fail("positional argument follows keyword argument");
        }
        args.positional.push_back(parse_expression());
      }
    }
    next();
    return args;
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto call = std::make_unique<CallExpr>(current().line);
    call->callee = std::move(callee);
    call->args = parse_arguments();
    return call;
  }

  std::string parse_dotted_name() {
    std::string name = expect_name();
    while (is_op(".") && peek().type == TokenType::Name) {
      next();
      name += "." + next().value;
    }
    return name;
  }

  std::unique_ptr<FilterExpr> parse_filter(ExprPtr subject) {
    auto filter = std::make_unique<FilterExpr>(current().line);
    filter->subject = std::move(subject);
    const Token& name_token = current();
    filter->name = parse_dotted_name();
    if (!has_filter(filter->name)) {
      unknown_names_.push_back({name_token, "no filter named '" + filter->name + "'", soft_});
    }
    if (is_op("(")) {
      filter->args = parse_arguments();
    }
    return filter;
  }

  ExprPtr parse_filter_chain(ExprPtr node) {
    int links = 0;
    while (true) {
      count_link(links);
      if (skip_op("|")) {
        node = parse_filter(std::move(node));
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_test(ExprPtr subject) {
    auto test = std::make_unique<TestExpr>(next().line);
    test->subject = std::move(subject);
    test->negated = skip_name("not");
    const Token& name_token = current();
    test->name = parse_dotted_name();
    if (!has_test(test->name)) {
      unknown_names_.push_back({name_token, "no test named '" + test->name + "'", soft_});
    }
    const Token& t = current();
    if (is_op("(")) {
      test->args = parse_arguments();
    } else if ((t.type == TokenType::Name || t.type == TokenType::String || t.type == TokenType::Integer ||
                t.type == TokenType::Float || is_op("[") || is_op("{")) &&
               !(t.type == TokenType::Name && (t.value == "else" || t.value == "or" || t.value == "and"))) {
      if (is_name("is")) {
        fail("you cannot chain multiple tests with 'is'");
      }
      test->args.positional.push_back(parse_primary_with_postfix());
    }
    return test;
  }

  // Like Jinja, an unknown filter or test is a syntax error unless it sits in an if statement
  // or an inline if expression ("soft" code), where it fails only when evaluated.
  struct UnknownName {
    Token at;
    std::string message;
    bool deferred;
  };
  class SoftScope {
   public:
    SoftScope(Parser& parser, bool soft) : parser_(parser), saved_(parser.soft_) { parser.soft_ = soft; }
    ~SoftScope() { parser_.soft_ = saved_; }
    SoftScope(const SoftScope&) = delete;
    SoftScope& operator=(const SoftScope&) = delete;

   private:
    Parser& parser_;
    bool saved_;
  };
  void defer_unknown_names(size_t from) {
    for (size_t i = from; i < unknown_names_.size(); ++i) {
      unknown_names_[i].deferred = true;
    }
  }

  std::vector<Token> tokens_;
  std::vector<UnknownName> unknown_names_;
  bool soft_ = false;
  int nesting_ = 0;
  size_t pos_ = 0;
  std::string tag_name_;
  std::string open_tag_ = "template";
};

}  // namespace

std::unique_ptr<Body> parse(std::string_view source) {
  return Parser(tokenize(source)).parse_template();
}

}  // namespace tessera::jinja
