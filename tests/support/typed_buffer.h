// typed_buffer.h — an array of any element type in a context's memory space (host for CPU,
// device for CUDA), through the public buffer API: the options' masks (uint8), counts (int32)
// and 16-bit scores live in these. Move-only; an empty vector gives a NULL array.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "semcl/semcl.h"

namespace semcl_test {

template <typename T>
class TypedBuffer {
 public:
  TypedBuffer() = default;
  TypedBuffer(semcl_context *ctx, const std::vector<T> &host) : ctx_(ctx), count_(host.size()) {
    if (host.empty()) return;
    void *p = nullptr;
    const semcl_status_t st = semcl_buffer_alloc(ctx_, &p, count_ * sizeof(T));
    if (st != SEMCL_STATUS_SUCCESS) {
      ADD_FAILURE() << "semcl_buffer_alloc: " << semcl_last_error(ctx_);
      return;
    }
    data_ = static_cast<T *>(p);
    EXPECT_EQ(semcl_upload(ctx_, data_, host.data(), count_ * sizeof(T)), SEMCL_STATUS_SUCCESS)
        << semcl_last_error(ctx_);
  }
  TypedBuffer(TypedBuffer &&o) noexcept : ctx_(o.ctx_), data_(o.data_), count_(o.count_) {
    o.data_ = nullptr;
    o.count_ = 0;
  }
  TypedBuffer &operator=(TypedBuffer &&o) noexcept {
    if (this != &o) {
      if (data_) semcl_buffer_free(ctx_, data_);
      ctx_ = o.ctx_;
      data_ = o.data_;
      count_ = o.count_;
      o.data_ = nullptr;
      o.count_ = 0;
    }
    return *this;
  }
  TypedBuffer(const TypedBuffer &) = delete;
  TypedBuffer &operator=(const TypedBuffer &) = delete;
  ~TypedBuffer() {
    if (data_) semcl_buffer_free(ctx_, data_);
  }

  T *get() const { return data_; }
  size_t size() const { return count_; }
  std::vector<T> download() const {
    std::vector<T> host(count_);
    if (data_ && count_) {
      EXPECT_EQ(semcl_download(ctx_, host.data(), data_, count_ * sizeof(T)),
                SEMCL_STATUS_SUCCESS)
          << semcl_last_error(ctx_);
    }
    return host;
  }

 private:
  semcl_context *ctx_ = nullptr;
  T *data_ = nullptr;
  size_t count_ = 0;
};

}  // namespace semcl_test
