#include "lm/tokenizer/split.h"

#include <algorithm>
#include <stdexcept>

#include "lm/tokenizer/unicode.h"

namespace tessera::lm::tokenizer_detail {

SplitBehavior parse_split_behavior(const std::string& name, const std::string& where) {
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous") return SplitBehavior::Contiguous;
  throw std::runtime_error(where + ": unknown split behavior '" + name + "'");
}

SplitPattern SplitPattern::regex(const std::string& pattern) {
  SplitPattern p;
  p.regex_.emplace(pattern);
  return p;
}

SplitPattern SplitPattern::literal(std::string text) {
  SplitPattern p;
  p.literal_ = std::move(text);
  return p;
}

SplitPattern SplitPattern::from(std::optional<Regex> regex, std::string literal) {
  SplitPattern p;
  p.regex_ = std::move(regex);
  if (!p.regex_) p.literal_ = std::move(literal);
  return p;
}

SplitPattern SplitPattern::chars(std::function<bool(char32_t)> predicate) {
  SplitPattern p;
  p.predicate_ = std::move(predicate);
  return p;
}

std::vector<Segment> SplitPattern::find_matches(std::string_view text) const {
  if (text.empty()) return {{0, 0, false}};
  std::vector<Segment> out;
  size_t prev = 0;
  auto add_match = [&](size_t start, size_t end) {
    if (prev != start) out.push_back({prev, start, false});
    out.push_back({start, end, true});
    prev = end;
  };
  if (predicate_) {
    size_t i = 0;
    while (i < text.size()) {
      size_t start = i;
      char32_t c = next_code_point(text, i);
      if (predicate_(c)) add_match(start, i);
    }
  } else if (regex_) {
    for (auto [start, end] : regex_->find_all(text)) add_match(start, end);
  } else if (!literal_.empty()) {
    for (size_t at = text.find(literal_); at != std::string_view::npos;
         at = text.find(literal_, at + literal_.size())) {
      add_match(at, at + literal_.size());
    }
  }
  if (prev != text.size()) out.push_back({prev, text.size(), false});
  return out;
}

namespace {

// Folds each match into the piece before (or, walking backwards, after) it.
std::vector<Segment> merge_matches(const std::vector<Segment>& in, bool backwards) {
  std::vector<Segment> acc;
  bool previous_match = false;
  auto visit = [&](const Segment& s) {
    if (s.is_match && !previous_match && !acc.empty()) {
      if (backwards) {
        acc.back().start = s.start;
      } else {
        acc.back().end = s.end;
      }
    } else {
      acc.push_back({s.start, s.end, false});
    }
    previous_match = s.is_match;
  };
  if (backwards) {
    std::for_each(in.rbegin(), in.rend(), visit);
    std::reverse(acc.begin(), acc.end());
  } else {
    std::for_each(in.begin(), in.end(), visit);
  }
  return acc;
}

std::vector<Segment> merge_contiguous(const std::vector<Segment>& in) {
  std::vector<Segment> acc;
  bool previous_match = false;
  for (const auto& s : in) {
    if (s.is_match == previous_match && !acc.empty()) {
      acc.back().end = s.end;
    } else {
      acc.push_back({s.start, s.end, false});
    }
    previous_match = s.is_match;
  }
  return acc;
}

}  // namespace

std::vector<std::pair<size_t, size_t>> split(std::string_view text, const SplitPattern& pattern,
                                             SplitBehavior behavior, bool invert) {
  std::vector<Segment> segments = pattern.find_matches(text);
  if (invert) {
    for (auto& s : segments) s.is_match = !s.is_match;
  }
  switch (behavior) {
    case SplitBehavior::Removed:
      break;
    case SplitBehavior::Isolated:
      for (auto& s : segments) s.is_match = false;
      break;
    case SplitBehavior::MergedWithPrevious:
      segments = merge_matches(segments, false);
      break;
    case SplitBehavior::MergedWithNext:
      segments = merge_matches(segments, true);
      break;
    case SplitBehavior::Contiguous:
      segments = merge_contiguous(segments);
      break;
  }
  std::vector<std::pair<size_t, size_t>> pieces;
  pieces.reserve(segments.size());
  for (const auto& s : segments) {
    if (!s.is_match && s.end > s.start) pieces.emplace_back(s.start, s.end);
  }
  return pieces;
}

}  // namespace tessera::lm::tokenizer_detail
