// A fixed-size array of trivial values on 64-byte (cache-line) boundaries:
// the packed weights the evaluator's products read, one cache line a row of
// a block, whatever alignment the build's allocator gives (Eigen's aligns to
// what the build targets, 16 bytes in a portable build whose kernels may
// still be AVX-512).
//
//   aligned_buffer<float> w(n);   // n zeros
//   w.data();                     // 64-byte aligned
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>

namespace emnist {

template <class T>
class aligned_buffer {
  static_assert(std::is_trivial_v<T>);

 public:
  static constexpr std::size_t alignment = 64;

  aligned_buffer() = default;
  /// `size` values, zero.
  explicit aligned_buffer(std::size_t size)
      : data_(size > 0 ? static_cast<T*>(::operator new[](
                             size * sizeof(T), std::align_val_t{alignment}))
                       : nullptr),
        size_(size) {
    std::uninitialized_value_construct_n(data_.get(), size);
  }

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  std::size_t size() const { return size_; }

 private:
  struct release {
    void operator()(T* p) const {
      ::operator delete[](p, std::align_val_t{alignment});
    }
  };
  std::unique_ptr<T[], release> data_;
  std::size_t size_ = 0;
};

}  // namespace emnist
