// Row-contiguous access to an evaluated input inside eval_cpu: the input's own memory when it
// already is row-contiguous, otherwise a private row-major copy.
#pragma once

#include <vector>

#include "tessera/array.h"

namespace tessera {

class RowContiguous {
 public:
  explicit RowContiguous(const array& a) {
    if (a.flags().row_contiguous) {
      ptr_ = a.data<void>();
    } else {
      copy_.resize(a.nbytes());
      detail::copy_out(a, copy_.data(), a.dtype());
      ptr_ = copy_.data();
    }
  }
  RowContiguous(const RowContiguous&) = delete;
  RowContiguous& operator=(const RowContiguous&) = delete;

  const void* data() const { return ptr_; }

 private:
  std::vector<char> copy_;
  const void* ptr_ = nullptr;
};

// The input as float32 values in row-major order (e.g. a norm weight of any float dtype).
inline std::vector<float> to_f32_vector(const array& a) {
  std::vector<float> v(a.size());
  detail::copy_out(a, v.data(), float32);
  return v;
}

}  // namespace tessera
