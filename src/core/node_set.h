// A set of graph node ids for the graph walks (eval, transforms). Open addressing with linear
// probing: the walks insert every node once, and std::unordered_set's per-node allocations
// dominated their cost.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tessera {

class NodeSet {
 public:
  explicit NodeSet(size_t expected = 16) {
    size_t cap = 32;
    while (cap < expected * 2) cap <<= 1;
    slots_.assign(cap, 0);
  }

  // Returns true when id was not yet in the set. id must not be 0.
  bool insert(uintptr_t id) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    return insert_slot(slots_, id);
  }

  bool contains(uintptr_t id) const {
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash(id) & mask;; i = (i + 1) & mask) {
      if (slots_[i] == id) return true;
      if (slots_[i] == 0) return false;
    }
  }

  size_t size() const { return size_; }

 private:
  static size_t hash(uintptr_t id) { return static_cast<size_t>((id >> 4) * 0x9E3779B97F4A7C15ull >> 16); }

  bool insert_slot(std::vector<uintptr_t>& slots, uintptr_t id) {
    const size_t mask = slots.size() - 1;
    for (size_t i = hash(id) & mask;; i = (i + 1) & mask) {
      if (slots[i] == id) return false;
      if (slots[i] == 0) {
        slots[i] = id;
        ++size_;
        return true;
      }
    }
  }

  void grow() {
    std::vector<uintptr_t> bigger(slots_.size() * 2, 0);
    size_ = 0;
    for (uintptr_t id : slots_) {
      if (id != 0) insert_slot(bigger, id);
    }
    slots_.swap(bigger);
  }

  std::vector<uintptr_t> slots_;
  size_t size_ = 0;
};

}  // namespace tessera
