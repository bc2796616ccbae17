#include "tessera/array.h"

#include <sstream>

#include "backend/cpu/simd_convert.h"
#include "backend/cpu/strided.h"
#include "core/allocator.h"
#include "core/dtype_dispatch.h"
#include "core/primitive.h"
#include "core/transforms_impl.h"
#include "core/utils.h"

namespace tessera {

array::ArrayDesc::ArrayDesc(Shape shape_, Dtype dtype_) : shape(std::move(shape_)), dtype(dtype_) {
  for (auto d : shape) {
    if (d < 0) throw std::invalid_argument("[array] Negative dimension in shape " + shape_to_string(shape) + ".");
  }
  size = static_cast<size_t>(shape_size(shape));
  strides = row_major_strides(shape);
}

array::ArrayDesc::ArrayDesc(Shape shape_, Dtype dtype_, std::shared_ptr<Primitive> primitive_,
                            std::vector<array> inputs_)
    : shape(std::move(shape_)), dtype(dtype_), primitive(std::move(primitive_)), inputs(std::move(inputs_)) {
  size = static_cast<size_t>(shape_size(shape));
  strides = row_major_strides(shape);
  for (const auto& in : inputs) is_tracer |= in.desc_->is_tracer;
}

// Destroying a long chain of lazy nodes recursively would overflow the stack; unlink the inputs
// that only this node holds and destroy them one at a time instead.
array::ArrayDesc::~ArrayDesc() {
  if (inputs.empty()) return;
  std::vector<std::shared_ptr<ArrayDesc>> pending;
  auto release = [&pending](std::vector<array>& ins) {
    for (auto& in : ins) {
      if (in.desc_ && in.desc_.use_count() == 1 && in.desc_->siblings.empty()) pending.push_back(std::move(in.desc_));
    }
    ins.clear();
  };
  release(inputs);
  while (!pending.empty()) {
    std::shared_ptr<ArrayDesc> d = std::move(pending.back());
    pending.pop_back();
    release(d->inputs);
  }
}

array::Data::~Data() {
  if (deleter) deleter(buffer);
}

// The outputs of a multi-output primitive reference each other; once only those references
// are left, break the cycle so the group is freed.
array::~array() {
  if (!desc_ || desc_->siblings.empty()) return;
  const long others = static_cast<long>(desc_->siblings.size());
  if (desc_.use_count() != others + 1) return;
  for (const auto& s : desc_->siblings) {
    if (!s.desc_ || s.desc_.use_count() != others) return;
  }
  std::vector<std::vector<array>> links;
  links.push_back(std::move(desc_->siblings));
  for (auto& s : links.front()) links.push_back(std::move(s.desc_->siblings));
}

void array::init_from(const void* src, Dtype src_dtype) {
  set_data(allocator::malloc(nbytes()));
  detail::convert_elements(src, src_dtype, desc_->data_ptr, dtype(), size());
}

void array::init_scalar(const void* src, Dtype src_dtype, bool weak) {
  init_from(src, src_dtype);
  desc_->is_weak = weak;
}

array::array(float v) : array(std::make_shared<ArrayDesc>(Shape{}, float32)) { init_scalar(&v, float32, true); }
array::array(double v) : array(std::make_shared<ArrayDesc>(Shape{}, float32)) {
  float f = static_cast<float>(v);
  init_scalar(&f, float32, true);
}
array::array(int v) : array(std::make_shared<ArrayDesc>(Shape{}, int32)) { init_scalar(&v, int32, true); }
array::array(int64_t v) : array(std::make_shared<ArrayDesc>(Shape{}, int64)) { init_scalar(&v, int64, true); }
array::array(bool v) : array(std::make_shared<ArrayDesc>(Shape{}, bool_)) { init_scalar(&v, bool_, true); }

array::array(std::initializer_list<float> data)
    : array(std::make_shared<ArrayDesc>(Shape{static_cast<int64_t>(data.size())}, float32)) {
  init_from(data.begin(), float32);
}

array::array(std::initializer_list<int> data)
    : array(std::make_shared<ArrayDesc>(Shape{static_cast<int64_t>(data.size())}, int32)) {
  init_from(data.begin(), int32);
}

array::array(void* data, Shape shape, Dtype dtype, std::function<void(void*)> deleter)
    : array(std::make_shared<ArrayDesc>(std::move(shape), dtype)) {
  auto release = [d = std::move(deleter)](allocator::Buffer b) {
    if (d) d(b.raw_ptr());
  };
  desc_->data = std::make_shared<Data>(allocator::Buffer(data), std::move(release), true);
  desc_->data_ptr = data;
  desc_->data_size = size();
  desc_->flags = Flags{};
}

array::array(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive, std::vector<array> inputs)
    : array(std::make_shared<ArrayDesc>(std::move(shape), dtype, std::move(primitive), std::move(inputs))) {}

std::vector<array> array::make_arrays(std::vector<Shape> shapes, const std::vector<Dtype>& dtypes,
                                      const std::shared_ptr<Primitive>& primitive, const std::vector<array>& inputs) {
  std::vector<array> outs;
  outs.reserve(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) outs.emplace_back(std::move(shapes[i]), dtypes[i], primitive, inputs);
  if (outs.size() > 1) {
    for (size_t i = 0; i < outs.size(); ++i) {
      outs[i].desc_->position = static_cast<uint32_t>(i);
      for (size_t j = 0; j < outs.size(); ++j) {
        if (j != i) outs[i].desc_->siblings.push_back(outs[j]);
      }
    }
  }
  return outs;
}

int64_t array::shape(int axis) const { return desc_->shape[normalize_axis(axis, static_cast<int>(ndim()), "shape")]; }
int64_t array::strides(int axis) const {
  return desc_->strides[normalize_axis(axis, static_cast<int>(ndim()), "strides")];
}

std::vector<array> array::outputs() const {
  if (desc_->siblings.empty()) return {*this};
  std::vector<array> outs = desc_->siblings;
  outs.insert(outs.begin() + desc_->position, *this);
  return outs;
}

void array::eval() const {
  if (!is_evaluated()) tessera::eval(std::vector<array>{*this});
}

void array::throw_item_size() const {
  throw std::invalid_argument("[item] Only an array with exactly one element has an item; this one has shape " +
                              shape_to_string(shape()) + ".");
}

void array::set_data(allocator::Buffer buffer) {
  desc_->data = std::make_shared<Data>(buffer, allocator::free);
  desc_->data_ptr = buffer.raw_ptr();
  desc_->offset = 0;
  desc_->data_size = size();
  desc_->strides = row_major_strides(desc_->shape);
  desc_->flags = Flags{};
}

void array::set_data(allocator::Buffer buffer, size_t data_size, Strides strides, Flags flags) {
  desc_->data = std::make_shared<Data>(buffer, allocator::free);
  desc_->data_ptr = buffer.raw_ptr();
  desc_->offset = 0;
  desc_->data_size = data_size;
  desc_->strides = std::move(strides);
  desc_->flags = flags;
}

void array::copy_shared_buffer(const array& other, const Strides& strides, Flags flags, size_t data_size,
                               int64_t offset) {
  desc_->data = other.desc_->data;
  desc_->offset = other.desc_->offset + offset;
  desc_->data_ptr = static_cast<char*>(other.desc_->data_ptr) + offset * static_cast<int64_t>(other.itemsize());
  desc_->strides = strides;
  desc_->flags = flags;
  desc_->data_size = data_size;
}

void array::copy_shared_buffer(const array& other) {
  copy_shared_buffer(other, other.strides(), other.flags(), other.data_size());
}

void array::move_shared_buffer(array other) {
  desc_->data = std::move(other.desc_->data);
  // The new owner writes the buffer: what was derived from its old contents no longer holds.
  if (desc_->data) {
    std::lock_guard lock(desc_->data->derived_mutex);
    desc_->data->derived.reset();
  }
  desc_->data_ptr = other.desc_->data_ptr;
  desc_->offset = other.desc_->offset;
  desc_->strides = other.desc_->strides;
  desc_->flags = other.desc_->flags;
  desc_->data_size = other.desc_->data_size;
}

void array::detach() {
  desc_->primitive = nullptr;
  desc_->inputs.clear();
  for (auto& s : desc_->siblings) {
    s.desc_->primitive = nullptr;
    s.desc_->inputs.clear();
  }
  std::vector<array> siblings = std::move(desc_->siblings);
  desc_->siblings.clear();
  for (auto& s : siblings) s.desc_->siblings.clear();
}

bool array::is_tracer() const { return desc_->is_tracer && detail::in_tracing(); }

namespace detail {

namespace {

// The float32 <-> 16-bit float pairs (activations entering and leaving float32 kernels) take the
// vectorized, multi-threaded conversions; they round exactly as cast_to does.
bool convert_bulk(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, size_t n) {
  const auto count = static_cast<int64_t>(n);
  if (src_dtype == float32 && (dst_dtype == bfloat16 || dst_dtype == float16)) {
    auto convert = dst_dtype == bfloat16 ? cpu::f32_to_bf16 : cpu::f32_to_f16;
    convert(static_cast<const float*>(src), static_cast<uint16_t*>(dst), count);
    return true;
  }
  if ((src_dtype == bfloat16 || src_dtype == float16) && dst_dtype == float32) {
    auto convert = src_dtype == bfloat16 ? cpu::bf16_to_f32 : cpu::f16_to_f32;
    convert(static_cast<const uint16_t*>(src), static_cast<float*>(dst), count);
    return true;
  }
  return false;
}

}  // namespace

void convert_elements(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, size_t n) {
  if (convert_bulk(src, src_dtype, dst, dst_dtype, n)) return;
  dispatch_dtype(src_dtype, [&](auto in_tag) {
    using In = typename decltype(in_tag)::type;
    dispatch_dtype(dst_dtype, [&](auto out_tag) {
      using Out = typename decltype(out_tag)::type;
      const In* s = static_cast<const In*>(src);
      Out* d = static_cast<Out*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = cast_to<Out>(s[i]);
    });
  });
}

void copy_out(const array& a, void* dst, Dtype dst_dtype) {
  if (a.size() == 0) return;
  if (a.flags().row_contiguous) {
    convert_elements(a.data<void>(), a.dtype(), dst, dst_dtype, a.size());
    return;
  }
  Strides out_strides = row_major_strides(a.shape());
  auto layout = cpu::collapse_layout<2>(a.shape(), {&a.strides(), &out_strides});
  dispatch_dtype(a.dtype(), [&](auto in_tag) {
    using In = typename decltype(in_tag)::type;
    dispatch_dtype(dst_dtype, [&](auto out_tag) {
      using Out = typename decltype(out_tag)::type;
      const In* s = a.data<In>();
      Out* d = static_cast<Out*>(dst);
      cpu::for_each_row(layout, 0, layout.num_rows(), [&](const auto& off, int64_t n, const auto& st) {
        for (int64_t i = 0; i < n; ++i) d[off[1] + i * st[1]] = cast_to<Out>(s[off[0] + i * st[0]]);
      });
    });
  });
}

}  // namespace detail

namespace {

template <typename T>
void print_element(std::ostream& os, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    os << (v ? "true" : "false");
  } else if constexpr (std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>) {
    os << static_cast<int>(v);
  } else if constexpr (is_half_v<T>) {
    os << static_cast<float>(v);
  } else {
    os << v;
  }
}

template <typename T>
void print_nested(std::ostream& os, const std::vector<T>& values, const Shape& shape, size_t dim, size_t& pos,
                  int indent) {
  if (dim == shape.size()) {
    print_element<T>(os, values[pos++]);
    return;
  }
  os << "[";
  for (int64_t i = 0; i < shape[dim]; ++i) {
    if (i > 0) {
      os << ",";
      if (dim + 1 == shape.size()) {
        os << " ";
      } else {
        os << std::string(shape.size() - dim - 1, '\n') << std::string(indent + dim + 1, ' ');
      }
    }
    print_nested(os, values, shape, dim + 1, pos, indent);
  }
  os << "]";
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const array& a) {
  a.eval();
  os << "array(";
  dispatch_dtype(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<T> values(a.size());
    if constexpr (std::is_same_v<T, bool>) {
      std::vector<uint8_t> raw(a.size());
      detail::copy_out(a, raw.data(), bool_);
      for (size_t i = 0; i < raw.size(); ++i) values[i] = raw[i] != 0;
    } else {
      detail::copy_out(a, values.data(), a.dtype());
    }
    size_t pos = 0;
    print_nested(os, values, a.shape(), 0, pos, 6);
  });
  os << ", dtype=" << to_string(a.dtype()) << ")";
  return os;
}

std::string array::to_string() const {
  std::ostringstream ss;
  ss << *this;
  return ss.str();
}

}  // namespace tessera
