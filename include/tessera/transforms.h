// Function transformations: reverse-mode differentiation and rematerialization.
//
// A transform traces the function on tracer copies of the primals, records the graph that
// depends on them, and walks it in reverse calling each primitive's vjp.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tessera/array.h"

namespace tessera {

using MultiFn = std::function<std::vector<array>(const std::vector<array>&)>;
using ValueAndGradFn =
    std::function<std::pair<std::vector<array>, std::vector<array>>(const std::vector<array>&)>;
using ParamMap = std::map<std::string, array>;

// Returns (fun(primals), cotangent-weighted gradients w.r.t. every primal).
std::pair<std::vector<array>, std::vector<array>> vjp(const MultiFn& fun, const std::vector<array>& primals,
                                                      const std::vector<array>& cotangents);
std::pair<array, array> vjp(const std::function<array(const array&)>& fun, const array& primal,
                            const array& cotangent);

// fun's first output must be a scalar; gradients are w.r.t. the arguments in argnums.
ValueAndGradFn value_and_grad(const MultiFn& fun, const std::vector<int>& argnums = {0});
ValueAndGradFn value_and_grad(const std::function<array(const std::vector<array>&)>& fun,
                              const std::vector<int>& argnums = {0});
std::function<std::pair<array, array>(const array&)> value_and_grad(const std::function<array(const array&)>& fun);
// Gradients of a scalar function of a named parameter tree, keyed like the parameters.
std::function<std::pair<array, ParamMap>(const ParamMap&)> value_and_grad(
    const std::function<array(const ParamMap&)>& fun);

MultiFn grad(const std::function<array(const std::vector<array>&)>& fun, const std::vector<int>& argnums = {0});
std::function<array(const array&)> grad(const std::function<array(const array&)>& fun);

// The same function, whose intermediate values are recomputed in the backward pass instead of
// being kept alive from the forward pass.
MultiFn checkpoint(const MultiFn& fun);

}  // namespace tessera
