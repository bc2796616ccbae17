// Internal state shared by the transforms and the scheduler.
#pragma once

namespace tessera::detail {

// True while a transform is tracing a function (arrays marked as tracers then keep their graph
// when evaluated, because the backward pass still needs it).
bool in_tracing();

// Marks a tracing region for the lifetime of the object.
struct TracingScope {
  TracingScope();
  ~TracingScope();
  TracingScope(const TracingScope&) = delete;
  TracingScope& operator=(const TracingScope&) = delete;
};

}  // namespace tessera::detail
