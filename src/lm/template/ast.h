// The syntax tree of a template. Each node evaluates or renders itself (a tree-walking
// interpreter); the node behaviour lives in expressions.cpp and statements.cpp.
#pragma once

#include "lm/template/runtime.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tessera::jinja {

struct Expr {
  explicit Expr(int line) : line(line) {}
  virtual ~Expr() = default;
  virtual Value eval(Renderer& renderer) const = 0;
  int line;
};
using ExprPtr = std::unique_ptr<Expr>;

struct Arguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;

  Args eval(Renderer& renderer) const;
};

struct Literal : Expr {
  Literal(int line, Value value) : Expr(line), value(std::move(value)) {}
  Value eval(Renderer& renderer) const override;
  Value value;
};

struct NameExpr : Expr {
  NameExpr(int line, std::string name) : Expr(line), name(std::move(name)) {}
  Value eval(Renderer& renderer) const override;
  std::string name;
};

struct ListExpr : Expr {
  ListExpr(int line, bool tuple) : Expr(line), tuple(tuple) {}
  Value eval(Renderer& renderer) const override;
  std::vector<ExprPtr> items;
  bool tuple;
};

struct DictExpr : Expr {
  using Expr::Expr;
  Value eval(Renderer& renderer) const override;
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct AttributeExpr : Expr {
  AttributeExpr(int line, ExprPtr object, std::string name)
      : Expr(line), object(std::move(object)), name(std::move(name)) {}
  Value eval(Renderer& renderer) const override;
  ExprPtr object;
  std::string name;
};

struct ItemExpr : Expr {
  ItemExpr(int line, ExprPtr object, ExprPtr key) : Expr(line), object(std::move(object)), key(std::move(key)) {}
  Value eval(Renderer& renderer) const override;
  ExprPtr object, key;
};

struct SliceExpr : Expr {
  using Expr::Expr;
  Value eval(Renderer& renderer) const override;
  ExprPtr object, start, stop, step;  // the bounds may be null
};

struct UnaryExpr : Expr {
  UnaryExpr(int line, std::string op, ExprPtr operand) : Expr(line), op(std::move(op)), operand(std::move(operand)) {}
  Value eval(Renderer& renderer) const override;
  std::string op;  // "not", "-", "+"
  ExprPtr operand;
};

struct BinaryExpr : Expr {
  BinaryExpr(int line, std::string op, ExprPtr lhs, ExprPtr rhs)
      : Expr(line), op(std::move(op)), lhs(std::move(lhs)), rhs(std::move(rhs)) {}
  Value eval(Renderer& renderer) const override;
  std::string op;  // arithmetic, "~", "and", "or"
  ExprPtr lhs, rhs;
};

struct CompareExpr : Expr {
  using Expr::Expr;
  Value eval(Renderer& renderer) const override;
  ExprPtr first;
  std::vector<std::pair<std::string, ExprPtr>> rest;  // chained as in Python: a < b < c
};

struct ConditionalExpr : Expr {
  using Expr::Expr;
  Value eval(Renderer& renderer) const override;
  ExprPtr condition, then, otherwise;  // otherwise may be null (yields undefined)
};

struct FilterExpr : Expr {
  using Expr::Expr;
  Value eval(Renderer& renderer) const override;
  Value apply(Renderer& renderer, const Value& subject) const;
  ExprPtr subject;
  std::string name;
  Arguments args;
};

struct TestExpr : Expr {
  using Expr::Expr;
  Value eval(Renderer& renderer) const override;
  ExprPtr subject;
  std::string name;
  Arguments args;
  bool negated = false;
};

struct CallExpr : Expr {
  using Expr::Expr;
  Value eval(Renderer& renderer) const override;
  ExprPtr callee;
  Arguments args;
};

struct Node {
  explicit Node(int line) : line(line) {}
  virtual ~Node() = default;
  virtual void render(Renderer& renderer) const = 0;
  int line;
};
using NodePtr = std::unique_ptr<Node>;

struct Body : Node {
  using Node::Node;
  void render(Renderer& renderer) const override;
  std::vector<NodePtr> nodes;
};

struct TextNode : Node {
  TextNode(int line, std::string text) : Node(line), text(std::move(text)) {}
  void render(Renderer& renderer) const override;
  std::string text;
};

struct OutputNode : Node {
  OutputNode(int line, ExprPtr expr) : Node(line), expr(std::move(expr)) {}
  void render(Renderer& renderer) const override;
  ExprPtr expr;
};

// What a for loop or a set statement assigns to: a name, a tuple of names, or ns.attribute.
struct Target {
  std::vector<std::string> names;
  std::string attribute;  // non-empty for `ns.attribute`
  bool unpack = false;

  void assign(Renderer& renderer, const Value& value, int line) const;
};

struct IfNode : Node {
  using Node::Node;
  void render(Renderer& renderer) const override;
  std::vector<std::pair<ExprPtr, std::unique_ptr<Body>>> branches;
  std::unique_ptr<Body> otherwise;
};

struct ForNode : Node {
  using Node::Node;
  void render(Renderer& renderer) const override;
  Target target;
  ExprPtr iterable, filter;
  std::unique_ptr<Body> body, otherwise;
};

struct SetNode : Node {
  using Node::Node;
  void render(Renderer& renderer) const override;
  Target target;
  ExprPtr value;
};

struct SetBlockNode : Node {
  using Node::Node;
  void render(Renderer& renderer) const override;
  Target target;
  std::vector<std::unique_ptr<FilterExpr>> filters;
  std::unique_ptr<Body> body;
};

struct MacroNode : Node {
  using Node::Node;
  void render(Renderer& renderer) const override;
  Value make_macro(Renderer& renderer) const;
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // default may be null
  std::unique_ptr<Body> body;
};

struct CallBlockNode : Node {
  using Node::Node;
  void render(Renderer& renderer) const override;
  MacroNode caller{0};
  std::unique_ptr<CallExpr> call;
};

struct FilterBlockNode : Node {
  using Node::Node;
  void render(Renderer& renderer) const override;
  std::vector<std::unique_ptr<FilterExpr>> filters;
  std::unique_ptr<Body> body;
};

struct WithNode : Node {
  using Node::Node;
  void render(Renderer& renderer) const override;
  std::vector<std::pair<Target, ExprPtr>> assignments;
  std::unique_ptr<Body> body;
};

struct LoopControlNode : Node {
  LoopControlNode(int line, Renderer::Flow flow) : Node(line), flow(flow) {}
  void render(Renderer& renderer) const override;
  Renderer::Flow flow;
};

// Parses the tokens of a whole template; throws TemplateError naming the line and column.
std::unique_ptr<Body> parse(std::string_view source);

}  // namespace tessera::jinja
