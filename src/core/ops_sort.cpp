// Sorting, partitioning and top-k.
#include "core/primitives/sort.h"
#include "core/utils.h"
#include "tessera/ops.h"

namespace tessera {

namespace {

array sort_op(const array& a, int axis_in, bool indices, std::optional<int> kth_in, const char* op, StreamOrDevice s) {
  if (a.ndim() == 0) throw std::invalid_argument(std::string("[") + op + "] Expected an array with at least one axis.");
  const int axis = normalize_axis(axis_in, static_cast<int>(a.ndim()), op);
  int kth = -1;
  if (kth_in) {
    const int64_t n = a.shape(axis);
    const int64_t k = *kth_in < 0 ? *kth_in + n : *kth_in;
    if (k < 0 || k >= n) {
      throw std::out_of_range(std::string("[") + op + "] kth " + std::to_string(*kth_in) +
                              " is out of range for an axis of size " + std::to_string(n) + ".");
    }
    kth = static_cast<int>(k);
  }
  return array(a.shape(), indices ? uint32 : a.dtype(), std::make_shared<Sort>(to_device(s, op), axis, indices, kth),
               {a});
}

}  // namespace

array sort(const array& a, int axis, StreamOrDevice s) { return sort_op(a, axis, false, {}, "sort", s); }
array argsort(const array& a, int axis, StreamOrDevice s) { return sort_op(a, axis, true, {}, "argsort", s); }
array partition(const array& a, int kth, int axis, StreamOrDevice s) {
  return sort_op(a, axis, false, kth, "partition", s);
}
array argpartition(const array& a, int kth, int axis, StreamOrDevice s) {
  return sort_op(a, axis, true, kth, "argpartition", s);
}

array topk(const array& a, int k, int axis_in, StreamOrDevice s) {
  if (a.ndim() == 0) throw std::invalid_argument("[topk] Expected an array with at least one axis.");
  const int axis = normalize_axis(axis_in, static_cast<int>(a.ndim()), "topk");
  const int64_t n = a.shape(axis);
  if (k < 0 || k > n) {
    throw std::out_of_range("[topk] k " + std::to_string(k) + " must be between 0 and the axis size " +
                            std::to_string(n) + ".");
  }
  Shape start(a.ndim(), 0), stop = a.shape();
  start[axis] = n - k;
  if (k == 0) return slice(a, start, stop, s);
  // The k largest values, in partition order (not sorted), as in MLX.
  return slice(partition(a, static_cast<int>(n - k), axis, s), start, stop, s);
}

}  // namespace tessera
