// Pinned host memory, non-blocking copies and streams on CUDA: pin_memory / is_pinned, asynchronous
// host<->device copies through pinned memory (to(..., non_blocking) lands in pinned memory), the
// caching allocator's per-stream reuse and record_stream, and ops queued on a non-default stream.
#include <gtest/gtest.h>

#include "cuda_test_util.h"
#include "tessera/cuda/runtime.h"

using namespace cuda_test;

TEST(CudaPinned, PinMemoryRoundTripNonBlocking) {
  REQUIRE_CUDA();
  for (DType dt : {kFloat32, kBFloat16, kInt64}) {
    Tensor h = random_cpu({1000, 37}, dt);
    Tensor p = h.pin_memory();
    EXPECT_TRUE(p.is_pinned());
    EXPECT_FALSE(h.is_pinned());
    EXPECT_TRUE(p.pin_memory().is_same(p)) << "pinning a pinned tensor returns it";
    Tensor d = p.to(kDev, /*non_blocking=*/true);
    Tensor back = d.to(Device::cpu(), /*non_blocking=*/true);
    EXPECT_TRUE(back.is_pinned()) << "a non-blocking device->host copy lands in pinned memory";
    cuda::synchronize();
    expect_close(back, h, Tol{0, 0}, "pinned round trip " + dn(dt));
  }
}

TEST(CudaPinned, FreedPinnedSourceIsNotReusedUnderTheCopy) {
  REQUIRE_CUDA();
  // Many large non-blocking uploads whose pinned sources die at once: a reused block would be
  // overwritten by the next fill while its DMA may still read it.
  const int64_t n = 1 << 22;
  std::vector<Tensor> dev;
  for (int i = 0; i < 8; ++i) {
    Tensor p = raw::full({n}, double(i + 1), TensorOptions(kFloat32)).pin_memory();
    dev.push_back(p.to(kDev, /*non_blocking=*/true));
  }
  cuda::synchronize();
  for (int i = 0; i < 8; ++i) {
    Tensor s = dev[size_t(i)].sum().cpu();
    EXPECT_EQ(s.item<float>(), float(n) * float(i + 1)) << "upload " << i;
  }
  EXPECT_GT(cuda::pinned_memory_cached(), size_t(0));
  cuda::empty_cache();
  EXPECT_EQ(cuda::pinned_memory_cached(), size_t(0));
}

TEST(CudaStreams, OpsOnASideStreamMatchCpu) {
  REQUIRE_CUDA();
  Tensor a = random_cpu({257, 129}, kFloat32), b = random_cpu({129, 65}, kFloat32);
  Tensor want = raw::softmax(raw::mm(a.to(kFloat64), b.to(kFloat64)), -1);
  cuda::Stream side(0);
  Tensor da = to_cuda(a), db = to_cuda(b);
  cuda::Event ready;
  ready.record(cuda::current_stream(0));
  Tensor out;
  {
    cuda::StreamGuard guard(side);
    ready.wait(side.get());  // the side stream waits for the uploads on the default stream
    EXPECT_EQ(cuda::current_stream(0), side.get());
    out = raw::softmax(raw::mm(da, db), -1);
    cuda::record_stream(da, side.get());
    cuda::record_stream(db, side.get());
  }
  EXPECT_EQ(cuda::current_stream(0), nullptr) << "the guard restores the default stream";
  side.synchronize();
  expect_close(out.cpu(), want, Tol{1e-4, 1e-5}, "mm + softmax on a side stream");
}

TEST(CudaStreams, BlocksAreReusedOnlyOnTheirStream) {
  REQUIRE_CUDA();
  cuda::empty_cache();
  cuda::Stream s1(0), s2(0);
  void* first = nullptr;
  {
    cuda::StreamGuard g(s1);
    Tensor t = raw::empty({1 << 20}, TensorOptions(kFloat32).device(kDev));
    first = t.data_ptr();
  }  // freed: back to s1's free list
  {
    cuda::StreamGuard g(s2);
    Tensor u = raw::empty({1 << 20}, TensorOptions(kFloat32).device(kDev));
    EXPECT_NE(u.data_ptr(), first) << "a block freed on one stream was handed to another";
  }
  {
    cuda::StreamGuard g(s1);
    Tensor v = raw::empty({1 << 20}, TensorOptions(kFloat32).device(kDev));
    EXPECT_EQ(v.data_ptr(), first) << "the same stream should reuse its cached block";
  }
}

TEST(CudaStreams, RecordStreamDefersReuseUntilTheStreamIsDone) {
  REQUIRE_CUDA();
  cuda::empty_cache();
  cuda::Stream side(0);
  Tensor t = raw::full({1 << 22}, 1.0, TensorOptions(kFloat32).device(kDev));
  cuda::Event filled;
  filled.record(cuda::current_stream(0));
  Tensor result;
  {
    cuda::StreamGuard g(side);
    filled.wait(side.get());
    // a long queue of work reading t on the side stream
    result = raw::full({1}, 0.0, TensorOptions(kFloat32).device(kDev));
    for (int i = 0; i < 50; ++i) result = result + t.sum();
  }
  cuda::record_stream(t, side.get());
  t = Tensor();  // freed while the side stream may still read it
  Tensor u = raw::full({1 << 22}, 2.0, TensorOptions(kFloat32).device(kDev));  // default stream
  side.synchronize();
  EXPECT_EQ(result.cpu().item<float>(), 50.0f * float(1 << 22)) << "the side stream read overwritten memory";
  (void)u;
}

TEST(CudaStreams, RecordStreamRejectsCpuTensors) {
  REQUIRE_CUDA();
  cuda::Stream side(0);
  EXPECT_THROW(cuda::record_stream(raw::full({3}, 1.0), side.get()), DeviceError);
}
