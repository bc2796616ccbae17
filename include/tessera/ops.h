// Array operations. Every op validates its arguments, infers the output shape and dtype and
// returns a lazy node; nothing is computed until eval. Errors are std::invalid_argument or
// std::out_of_range whose message starts with "[<op>] ".
#pragma once

#include <optional>
#include <vector>

#include "tessera/array.h"

namespace tessera {

// ---- creation ----
array full(Shape shape, array value, Dtype dtype, StreamOrDevice s = {});
array full(Shape shape, array value, StreamOrDevice s = {});
array zeros(Shape shape, Dtype dtype = float32, StreamOrDevice s = {});
array ones(Shape shape, Dtype dtype = float32, StreamOrDevice s = {});
array zeros_like(const array& a, StreamOrDevice s = {});
array ones_like(const array& a, StreamOrDevice s = {});
array full_like(const array& a, array value, StreamOrDevice s = {});
array arange(double start, double stop, double step, Dtype dtype = float32, StreamOrDevice s = {});
array arange(double start, double stop, Dtype dtype = float32, StreamOrDevice s = {});
array arange(double stop, Dtype dtype, StreamOrDevice s = {});
array arange(int stop, StreamOrDevice s = {});
array arange(int start, int stop, int step = 1, StreamOrDevice s = {});
array linspace(double start, double stop, int num = 50, Dtype dtype = float32, StreamOrDevice s = {});
array eye(int n, int m = -1, int k = 0, Dtype dtype = float32, StreamOrDevice s = {});
array identity(int n, Dtype dtype = float32, StreamOrDevice s = {});
array tri(int n, int m, int k = 0, Dtype dtype = float32, StreamOrDevice s = {});
array tri(int n, Dtype dtype = float32, StreamOrDevice s = {});

// ---- dtype, copies ----
array astype(const array& a, Dtype dtype, StreamOrDevice s = {});
array copy(const array& a, StreamOrDevice s = {});
// a itself when already row-contiguous, otherwise a row-contiguous copy.
array contiguous(const array& a, StreamOrDevice s = {});
array stop_gradient(const array& a, StreamOrDevice s = {});
// The inputs, unchanged, as arrays that are evaluated only after `dependencies` (no copy).
std::vector<array> depends(const std::vector<array>& inputs, const std::vector<array>& dependencies,
                           StreamOrDevice s = {});

// ---- unary ----
array abs(const array& a, StreamOrDevice s = {});
array negative(const array& a, StreamOrDevice s = {});
array sign(const array& a, StreamOrDevice s = {});
array exp(const array& a, StreamOrDevice s = {});
array expm1(const array& a, StreamOrDevice s = {});
array log(const array& a, StreamOrDevice s = {});
array log1p(const array& a, StreamOrDevice s = {});
array log2(const array& a, StreamOrDevice s = {});
array log10(const array& a, StreamOrDevice s = {});
array sqrt(const array& a, StreamOrDevice s = {});
array rsqrt(const array& a, StreamOrDevice s = {});
array square(const array& a, StreamOrDevice s = {});
array reciprocal(const array& a, StreamOrDevice s = {});
array sin(const array& a, StreamOrDevice s = {});
array cos(const array& a, StreamOrDevice s = {});
array tan(const array& a, StreamOrDevice s = {});
array tanh(const array& a, StreamOrDevice s = {});
array sigmoid(const array& a, StreamOrDevice s = {});
array erf(const array& a, StreamOrDevice s = {});
array erfinv(const array& a, StreamOrDevice s = {});
array floor(const array& a, StreamOrDevice s = {});
array ceil(const array& a, StreamOrDevice s = {});
array round(const array& a, StreamOrDevice s = {});  // half to even, like NumPy
array logical_not(const array& a, StreamOrDevice s = {});
array isnan(const array& a, StreamOrDevice s = {});
array isinf(const array& a, StreamOrDevice s = {});
array isfinite(const array& a, StreamOrDevice s = {});
array nan_to_num(const array& a, float nan = 0.0f, std::optional<float> posinf = {},
                 std::optional<float> neginf = {}, StreamOrDevice s = {});

// ---- binary (broadcasting, type promotion) ----
array add(const array& a, const array& b, StreamOrDevice s = {});
array subtract(const array& a, const array& b, StreamOrDevice s = {});
array multiply(const array& a, const array& b, StreamOrDevice s = {});
array divide(const array& a, const array& b, StreamOrDevice s = {});
array power(const array& a, const array& b, StreamOrDevice s = {});
array maximum(const array& a, const array& b, StreamOrDevice s = {});
array minimum(const array& a, const array& b, StreamOrDevice s = {});
array floor_divide(const array& a, const array& b, StreamOrDevice s = {});
array remainder(const array& a, const array& b, StreamOrDevice s = {});
array logaddexp(const array& a, const array& b, StreamOrDevice s = {});
array arctan2(const array& a, const array& b, StreamOrDevice s = {});
array equal(const array& a, const array& b, StreamOrDevice s = {});
array not_equal(const array& a, const array& b, StreamOrDevice s = {});
array less(const array& a, const array& b, StreamOrDevice s = {});
array less_equal(const array& a, const array& b, StreamOrDevice s = {});
array greater(const array& a, const array& b, StreamOrDevice s = {});
array greater_equal(const array& a, const array& b, StreamOrDevice s = {});
array logical_and(const array& a, const array& b, StreamOrDevice s = {});
array logical_or(const array& a, const array& b, StreamOrDevice s = {});
array where(const array& condition, const array& x, const array& y, StreamOrDevice s = {});
array clip(const array& a, const std::optional<array>& lo, const std::optional<array>& hi, StreamOrDevice s = {});
// True where |a - b| <= atol + rtol * |b| (elementwise), all reduced to one bool.
bool allclose(const array& a, const array& b, double rtol = 1e-5, double atol = 1e-8);

// ---- reductions ----
array sum(const array& a, bool keepdims = false, StreamOrDevice s = {});
array sum(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array sum(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array mean(const array& a, bool keepdims = false, StreamOrDevice s = {});
array mean(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array mean(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array prod(const array& a, bool keepdims = false, StreamOrDevice s = {});
array prod(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array prod(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array max(const array& a, bool keepdims = false, StreamOrDevice s = {});
array max(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array max(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array min(const array& a, bool keepdims = false, StreamOrDevice s = {});
array min(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array min(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array all(const array& a, bool keepdims = false, StreamOrDevice s = {});
array all(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array all(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array any(const array& a, bool keepdims = false, StreamOrDevice s = {});
array any(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array any(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array logsumexp(const array& a, bool keepdims = false, StreamOrDevice s = {});
array logsumexp(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array logsumexp(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array var(const array& a, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});
array var(const array& a, int axis, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});
array var(const array& a, const std::vector<int>& axes, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});
array std(const array& a, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});
array std(const array& a, int axis, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});
array std(const array& a, const std::vector<int>& axes, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});
array argmax(const array& a, bool keepdims = false, StreamOrDevice s = {});
array argmax(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array argmin(const array& a, bool keepdims = false, StreamOrDevice s = {});
array argmin(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array softmax(const array& a, int axis = -1, bool precise = false, StreamOrDevice s = {});
array softmax(const array& a, const std::vector<int>& axes, bool precise = false, StreamOrDevice s = {});
array log_softmax(const array& a, int axis = -1, StreamOrDevice s = {});
array cumsum(const array& a, int axis, bool reverse = false, bool inclusive = true, StreamOrDevice s = {});
array cummax(const array& a, int axis, bool reverse = false, bool inclusive = true, StreamOrDevice s = {});

// ---- linear algebra ----
array matmul(const array& a, const array& b, StreamOrDevice s = {});
array addmm(const array& c, const array& a, const array& b, float alpha = 1.0f, float beta = 1.0f,
            StreamOrDevice s = {});
array outer(const array& a, const array& b, StreamOrDevice s = {});

// ---- shape and views ----
array reshape(const array& a, Shape shape, StreamOrDevice s = {});
array flatten(const array& a, int start_axis = 0, int end_axis = -1, StreamOrDevice s = {});
array transpose(const array& a, std::vector<int> axes, StreamOrDevice s = {});
array transpose(const array& a, StreamOrDevice s = {});
array swapaxes(const array& a, int axis1, int axis2, StreamOrDevice s = {});
array moveaxis(const array& a, int source, int destination, StreamOrDevice s = {});
array squeeze(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array squeeze(const array& a, int axis, StreamOrDevice s = {});
array squeeze(const array& a, StreamOrDevice s = {});
array expand_dims(const array& a, int axis, StreamOrDevice s = {});
array expand_dims(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array broadcast_to(const array& a, const Shape& shape, StreamOrDevice s = {});
std::vector<array> broadcast_arrays(const std::vector<array>& inputs, StreamOrDevice s = {});
Shape broadcast_shapes(const Shape& a, const Shape& b);
array concatenate(const std::vector<array>& arrays, int axis = 0, StreamOrDevice s = {});
array stack(const std::vector<array>& arrays, int axis = 0, StreamOrDevice s = {});
std::vector<array> split(const array& a, int num_splits, int axis = 0, StreamOrDevice s = {});
std::vector<array> split(const array& a, const Shape& indices, int axis = 0, StreamOrDevice s = {});
array pad(const array& a, const std::vector<int>& axes, const Shape& low_pad, const Shape& high_pad,
          const array& pad_value = array(0), StreamOrDevice s = {});
array pad(const array& a, int pad_width, const array& pad_value = array(0), StreamOrDevice s = {});
// Pads every axis i by (widths[i].first, widths[i].second).
array pad(const array& a, const std::vector<std::pair<int64_t, int64_t>>& widths,
          const array& pad_value = array(0), StreamOrDevice s = {});
array slice(const array& a, Shape start, Shape stop, StreamOrDevice s = {});
array slice(const array& a, Shape start, Shape stop, Shape strides, StreamOrDevice s = {});
array slice_update(const array& src, const array& update, Shape start, Shape stop, StreamOrDevice s = {});
array slice_update(const array& src, const array& update, Shape start, Shape stop, Shape strides,
                   StreamOrDevice s = {});
array tril(const array& a, int k = 0, StreamOrDevice s = {});
array triu(const array& a, int k = 0, StreamOrDevice s = {});
array tile(const array& a, Shape reps, StreamOrDevice s = {});
array repeat(const array& a, int repeats, int axis, StreamOrDevice s = {});
array repeat(const array& a, int repeats, StreamOrDevice s = {});
array one_hot(const array& indices, int num_classes, Dtype dtype = float32, StreamOrDevice s = {});
// A view with explicit shape, strides (elements) and offset into a's row-contiguous data.
array as_strided(const array& a, Shape shape, Strides strides, int64_t offset, StreamOrDevice s = {});

// ---- indexing ----
array take(const array& a, const array& indices, int axis, StreamOrDevice s = {});
array take(const array& a, const array& indices, StreamOrDevice s = {});
array take_along_axis(const array& a, const array& indices, int axis, StreamOrDevice s = {});
array put_along_axis(const array& a, const array& indices, const array& values, int axis, StreamOrDevice s = {});
array gather(const array& a, const std::vector<array>& indices, const std::vector<int>& axes,
             const Shape& slice_sizes, StreamOrDevice s = {});
array scatter_add(const array& a, const std::vector<array>& indices, const array& updates,
                  const std::vector<int>& axes, StreamOrDevice s = {});

// ---- sorting ----
array sort(const array& a, int axis = -1, StreamOrDevice s = {});
array argsort(const array& a, int axis = -1, StreamOrDevice s = {});
array partition(const array& a, int kth, int axis = -1, StreamOrDevice s = {});
array argpartition(const array& a, int kth, int axis = -1, StreamOrDevice s = {});
array topk(const array& a, int k, int axis = -1, StreamOrDevice s = {});

// ---- operators ----
array operator-(const array& a);
array operator!(const array& a);
array operator+(const array& a, const array& b);
array operator-(const array& a, const array& b);
array operator*(const array& a, const array& b);
array operator/(const array& a, const array& b);
array operator%(const array& a, const array& b);
array operator==(const array& a, const array& b);
array operator!=(const array& a, const array& b);
array operator<(const array& a, const array& b);
array operator<=(const array& a, const array& b);
array operator>(const array& a, const array& b);
array operator>=(const array& a, const array& b);
array operator&&(const array& a, const array& b);
array operator||(const array& a, const array& b);

}  // namespace tessera
