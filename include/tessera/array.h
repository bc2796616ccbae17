// array: a cheap, shared handle to a node of the lazy computation graph.
//
// An array is either evaluated (it owns or shares a data buffer) or lazy (it records the
// primitive that computes it and the primitive's inputs). Views (reshape, transpose, slice,
// broadcast) share the buffer of their source with their own shape, strides and offset.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "tessera/device.h"
#include "tessera/dtype.h"

namespace tessera {

class Primitive;

namespace allocator {

// A block of memory handed out by the allocator. Only the allocator interprets it.
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(void* ptr) : ptr_(ptr) {}
  void* raw_ptr() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

}  // namespace allocator

class array;

namespace detail {
// Converts n elements between dtypes (src contiguous, dst contiguous).
void convert_elements(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, size_t n);
// Copies an evaluated array out in row-major logical order, converting to dst_dtype.
void copy_out(const array& a, void* dst, Dtype dst_dtype);
}  // namespace detail

class array {
 public:
  struct Flags {
    bool contiguous = true;      // the elements fill [data, data + data_size) with no gaps
    bool row_contiguous = true;  // row-major with standard strides
    bool col_contiguous = true;  // column-major with standard strides
  };

  // Scalar constructors. A scalar made from a C++ number is "weakly typed": in a binary op with
  // an array it takes that array's dtype (Python-scalar rules, e.g. bf16 array * 2.0f is bf16).
  array(float v);
  array(double v);  // float32
  array(int v);
  array(int64_t v);
  array(bool v);
  template <typename T>
  array(T value, Dtype dtype);

  array(std::initializer_list<float> data);
  array(std::initializer_list<int> data);
  template <typename T>
  array(std::initializer_list<T> data, Shape shape, Dtype dtype = dtype_of<T>);
  template <typename T>
  array(const std::vector<T>& data, Shape shape, Dtype dtype = dtype_of<T>);
  template <typename T>
  array(const T* data, Shape shape, Dtype dtype = dtype_of<T>);

  // Wraps external memory without copying; `deleter(data)` runs once the last array using the
  // buffer is gone (e.g. munmap of a safetensors file).
  array(void* data, Shape shape, Dtype dtype, std::function<void(void*)> deleter);

  // A lazy node computed by `primitive` from `inputs`.
  array(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive, std::vector<array> inputs);

  // The outputs of a multi-output primitive; each knows its siblings.
  static std::vector<array> make_arrays(std::vector<Shape> shapes, const std::vector<Dtype>& dtypes,
                                        const std::shared_ptr<Primitive>& primitive,
                                        const std::vector<array>& inputs);

  array(const array&) = default;
  array(array&&) noexcept = default;
  array& operator=(const array&) = default;
  array& operator=(array&&) noexcept = default;
  ~array();

  const Shape& shape() const { return desc_->shape; }
  int64_t shape(int axis) const;
  const Strides& strides() const { return desc_->strides; }
  int64_t strides(int axis) const;
  size_t ndim() const { return desc_->shape.size(); }
  size_t size() const { return desc_->size; }
  Dtype dtype() const { return desc_->dtype; }
  size_t itemsize() const { return size_of(desc_->dtype); }
  size_t nbytes() const { return size() * itemsize(); }

  // Evaluates this array (and what it depends on).
  void eval() const;
  bool is_evaluated() const { return desc_->data != nullptr; }

  // The single element, converted to T. Evaluates; throws unless size() == 1.
  template <typename T>
  T item() const;

  // Pointer to the first element of this view (valid after eval). It may be strided: check
  // flags().row_contiguous, or use to_vector / contiguous() first.
  template <typename T>
  T* data() {
    return static_cast<T*>(desc_->data_ptr);
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(desc_->data_ptr);
  }

  // Evaluates and copies out in row-major logical order, for any strides.
  template <typename T>
  std::vector<T> to_vector() const;

  std::string to_string() const;

  // Graph and buffer internals, used by primitives, the scheduler and transforms.
  struct Data {
    allocator::Buffer buffer;
    std::function<void(allocator::Buffer)> deleter;
    // External memory (e.g. a read-only mmap) is never reused for an op's output.
    bool external = false;
    // A copy of the buffer's contents that a kernel laid out for itself (the decode layout of a
    // quantized matrix), made on first use and kept as long as the buffer; dropped when the
    // buffer is donated to an op's output.
    std::shared_ptr<void> derived;
    std::mutex derived_mutex;
    Data(allocator::Buffer b, std::function<void(allocator::Buffer)> d, bool ext = false)
        : buffer(b), deleter(std::move(d)), external(ext) {}
    Data(const Data&) = delete;
    Data& operator=(const Data&) = delete;
    ~Data();
  };

  bool has_primitive() const { return desc_->primitive != nullptr; }
  Primitive& primitive() const { return *desc_->primitive; }
  const std::shared_ptr<Primitive>& primitive_ptr() const { return desc_->primitive; }
  const std::vector<array>& inputs() const { return desc_->inputs; }
  std::vector<array>& inputs() { return desc_->inputs; }
  // The other outputs of this array's primitive (empty for single-output primitives).
  const std::vector<array>& siblings() const { return desc_->siblings; }
  // All outputs of this array's primitive in order (this array included).
  std::vector<array> outputs() const;
  uint32_t sibling_position() const { return desc_->position; }

  // A unique id for the node, stable while any handle to it exists.
  uintptr_t id() const { return reinterpret_cast<uintptr_t>(desc_.get()); }
  // Number of handles to this node.
  long use_count() const { return desc_.use_count(); }

  const Flags& flags() const { return desc_->flags; }
  // Elements spanned by the buffer region this view may touch (== size() for row-contiguous).
  size_t data_size() const { return desc_->data_size; }
  int64_t offset() const { return desc_->offset; }
  const std::shared_ptr<Data>& data_shared_ptr() const { return desc_->data; }
  allocator::Buffer& buffer() { return desc_->data->buffer; }
  const allocator::Buffer& buffer() const { return desc_->data->buffer; }

  // Gives this array a fresh row-contiguous buffer of size() elements.
  void set_data(allocator::Buffer buffer);
  void set_data(allocator::Buffer buffer, size_t data_size, Strides strides, Flags flags);
  // Makes this array a view of `other`'s buffer; `offset` is in elements, relative to other.
  void copy_shared_buffer(const array& other, const Strides& strides, Flags flags, size_t data_size,
                          int64_t offset = 0);
  void copy_shared_buffer(const array& other);
  // Takes over `other`'s buffer (donation): other must not be used again.
  void move_shared_buffer(array other);

  // True when this array's buffer can be reused for an op's output: nothing else holds it.
  bool is_donatable() const {
    return desc_.use_count() == 1 && desc_->data && desc_->data.use_count() == 1 && !desc_->data->external;
  }

  // Drops the primitive and inputs (after evaluation), so inputs can be freed.
  void detach();

  // Tracers are the arrays a transform traces through; eval keeps their graph.
  bool is_tracer() const;
  void set_tracer(bool t) { desc_->is_tracer = t; }
  // Weakly-typed scalars adapt to the other operand's dtype in binary ops.
  bool is_weak_scalar() const { return desc_->is_weak; }

 private:
  struct ArrayDesc {
    Shape shape;
    Strides strides;
    size_t size = 1;
    Dtype dtype;
    std::shared_ptr<Primitive> primitive;
    std::vector<array> inputs;
    std::vector<array> siblings;
    uint32_t position = 0;

    std::shared_ptr<Data> data;
    void* data_ptr = nullptr;
    int64_t offset = 0;
    size_t data_size = 0;
    Flags flags;

    bool is_tracer = false;
    bool is_weak = false;

    ArrayDesc(Shape shape, Dtype dtype);
    ArrayDesc(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive, std::vector<array> inputs);
    ~ArrayDesc();
  };

  array(std::shared_ptr<ArrayDesc> desc) : desc_(std::move(desc)) {}
  void init_from(const void* src, Dtype src_dtype);
  void init_scalar(const void* src, Dtype src_dtype, bool weak);
  void throw_item_size() const;

  std::shared_ptr<ArrayDesc> desc_;
};

std::ostream& operator<<(std::ostream& os, const array& a);

void eval(std::vector<array> outputs);
template <typename... Arrays>
void eval(Arrays&&... outputs) {
  eval(std::vector<array>{array(std::forward<Arrays>(outputs))...});
}

// ---- template definitions ----

template <typename T>
array::array(T value, Dtype dtype) : array(std::make_shared<ArrayDesc>(Shape{}, dtype)) {
  if constexpr (std::is_same_v<T, double>) {
    float f = static_cast<float>(value);
    init_from(&f, float32);
  } else if constexpr (std::is_same_v<T, long long>) {
    int64_t v = value;
    init_from(&v, int64);
  } else if constexpr (std::is_same_v<T, unsigned long> || std::is_same_v<T, unsigned long long>) {
    int64_t v = static_cast<int64_t>(value);
    init_from(&v, int64);
  } else {
    init_from(&value, dtype_of<T>);
  }
}

template <typename T>
array::array(const std::vector<T>& data, Shape shape, Dtype dtype) : array(data.data(), std::move(shape), dtype) {
  if (data.size() != size()) {
    throw std::invalid_argument("[array] Data has " + std::to_string(data.size()) +
                                " elements but the shape needs " + std::to_string(size()) + ".");
  }
}

template <typename T>
array::array(const T* data, Shape shape, Dtype dtype) : array(std::make_shared<ArrayDesc>(std::move(shape), dtype)) {
  init_from(data, dtype_of<T>);
}

template <typename T>
array::array(std::initializer_list<T> data, Shape shape, Dtype dtype)
    : array(std::make_shared<ArrayDesc>(std::move(shape), dtype)) {
  if (data.size() != size()) {
    throw std::invalid_argument("[array] Data has " + std::to_string(data.size()) +
                                " elements but the shape needs " + std::to_string(size()) + ".");
  }
  init_from(data.begin(), dtype_of<T>);
}

template <typename T>
T array::item() const {
  eval();
  if (size() != 1) throw_item_size();
  if constexpr (std::is_same_v<T, double>) {
    float f;
    detail::copy_out(*this, &f, float32);
    return f;
  } else if constexpr (std::is_same_v<T, long long> || std::is_same_v<T, size_t> ||
                       std::is_same_v<T, unsigned long long>) {
    int64_t v;
    detail::copy_out(*this, &v, int64);
    return static_cast<T>(v);
  } else {
    T v;
    detail::copy_out(*this, &v, dtype_of<T>);
    return v;
  }
}

template <typename T>
std::vector<T> array::to_vector() const {
  eval();
  if constexpr (std::is_same_v<T, double>) {
    std::vector<float> f(size());
    detail::copy_out(*this, f.data(), float32);
    return std::vector<double>(f.begin(), f.end());
  } else {
    std::vector<T> out(size());
    if constexpr (std::is_same_v<T, bool>) {
      std::vector<uint8_t> tmp(size());
      detail::copy_out(*this, tmp.data(), bool_);
      for (size_t i = 0; i < tmp.size(); ++i) out[i] = tmp[i] != 0;
    } else {
      detail::copy_out(*this, out.data(), dtype_of<T>);
    }
    return out;
  }
}

}  // namespace tessera
