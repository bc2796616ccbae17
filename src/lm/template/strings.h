// Python str operations on UTF-8 text, shared by the str methods and the filters.
#pragma once

#include "lm/template/runtime.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::jinja {

enum class StripSide { Left, Right, Both };

// str.strip()/lstrip()/rstrip(); `chars` = nullopt strips Unicode whitespace.
std::string strip(std::string_view s, const std::optional<std::string>& chars, StripSide side);
// str.split(sep, maxsplit) and str.rsplit; `sep` = nullopt splits on runs of whitespace.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit,
                               bool from_right);
std::vector<std::string> splitlines(std::string_view s);
std::string replace(std::string_view s, std::string_view old, std::string_view with, int64_t count);
int64_t count_occurrences(std::string_view s, std::string_view sub);
std::string to_upper(std::string_view s);
std::string to_lower(std::string_view s);
// str.title() and str.capitalize().
std::string python_title(std::string_view s);
std::string capitalize(std::string_view s);
// str.format with positional and named fields ({} {0} {name}, {{ and }}).
std::string format(std::string_view pattern, const Args& args);
// Python's printf-style `pattern % values` (%s %r %d %i %f %e %g %x %o %c %%, with flags,
// width and precision; %(name)s takes from `mapping`, which may be null).
std::string printf_format(std::string_view pattern, const List& values, const Value* mapping);
// Python index of `sub` in code points, or -1.
int64_t find_index(std::string_view s, std::string_view sub, bool from_right);
bool is_python_space(uint32_t code);

}  // namespace tessera::jinja
