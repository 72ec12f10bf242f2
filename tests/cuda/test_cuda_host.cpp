// Host-only checks of the CUDA backend that need no device (suite unit, so they run on every
// machine): the multi-tensor AdamW launch packing (Note [adamw launch packing]) covers every chunk of
// every tensor exactly once, within the per-launch limits, for lists longer than one launch holds.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "tessera/cuda/kernels/kernel_api.h"

using namespace tessera::cuda::kern;

namespace {

struct Packed {
  int launches = 0;
  std::map<std::pair<int64_t, int64_t>, int> covered;  // (tensor, chunk) -> times
};

// Packs tensors of these sizes; each tensor's param pointer encodes its index + 1.
Packed pack(const std::vector<int64_t>& sizes) {
  std::vector<AdamWTensor> ts(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    ts[i].param = reinterpret_cast<char*>(uintptr_t(i + 1));
    ts[i].n = sizes[i];
  }
  Packed out;
  cudaError_t err = adamw_for_each_launch(ts.data(), int64_t(ts.size()), [&](const AdamWLaunch& l) {
    ++out.launches;
    EXPECT_GT(l.num_blocks, 0);
    EXPECT_LE(l.num_blocks, kAdamWMaxBlocks);
    EXPECT_GT(l.num_tensors, 0);
    EXPECT_LE(l.num_tensors, kAdamWMaxTensors);
    for (int b = 0; b < l.num_blocks; ++b) {
      EXPECT_LT(int(l.block_tensor[b]), l.num_tensors);
      const AdamWTensor& t = l.tensors[l.block_tensor[b]];
      const int64_t id = int64_t(reinterpret_cast<uintptr_t>(t.param)) - 1;
      EXPECT_EQ(t.n, sizes[size_t(id)]);
      EXPECT_LT(int64_t(l.block_chunk[b]) * kAdamWChunk, t.n);
      ++out.covered[{id, l.block_chunk[b]}];
    }
    return cudaSuccess;
  });
  EXPECT_EQ(err, cudaSuccess);
  return out;
}

void expect_each_chunk_once(const std::vector<int64_t>& sizes, const Packed& p) {
  size_t chunks = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int64_t c = (sizes[i] + kAdamWChunk - 1) / kAdamWChunk;
    chunks += size_t(c);
    for (int64_t k = 0; k < c; ++k) {
      auto it = p.covered.find({int64_t(i), k});
      ASSERT_TRUE(it != p.covered.end()) << "tensor " << i << " chunk " << k << " not covered";
      EXPECT_EQ(it->second, 1) << "tensor " << i << " chunk " << k;
    }
  }
  EXPECT_EQ(p.covered.size(), chunks);
}

}  // namespace

TEST(AdamWPacking, ParametersFitTheKernelLimit) {
  EXPECT_LE(sizeof(AdamWLaunch) + sizeof(AdamWShared), 4096u);
}

TEST(AdamWPacking, OddSizesManyTensorsAndAContinuedTensor) {
  std::vector<int64_t> sizes;
  const int64_t odd[] = {1, 3, 1023, 4097, 65535, 65536, 65537, 131075, 0, 7, 262147};
  for (int i = 0; i < 140; ++i) sizes.push_back(odd[i % 11]);
  sizes.push_back(331 * kAdamWChunk + 5);  // more chunks than one launch has blocks
  sizes.push_back(2);
  Packed p = pack(sizes);
  expect_each_chunk_once(sizes, p);
  // at least ceil(tensors / 32) and ceil(blocks / 320) launches; a launch ends only when a limit is hit
  // (a continued tensor takes one more tensor slot)
  int64_t nonempty = 0, blocks = 0;
  for (int64_t n : sizes) {
    nonempty += n > 0;
    blocks += (n + kAdamWChunk - 1) / kAdamWChunk;
  }
  const int64_t lower = std::max((nonempty + kAdamWMaxTensors - 1) / kAdamWMaxTensors,
                                 (blocks + kAdamWMaxBlocks - 1) / kAdamWMaxBlocks);
  EXPECT_GE(p.launches, lower);
  EXPECT_LE(p.launches, (nonempty + blocks / kAdamWMaxBlocks) / kAdamWMaxTensors + blocks / kAdamWMaxBlocks + 1);
}

TEST(AdamWPacking, EdgeCases) {
  EXPECT_EQ(pack({}).launches, 0);
  EXPECT_EQ(pack({0, 0}).launches, 0);
  std::vector<int64_t> one = {1};
  Packed p1 = pack(one);
  EXPECT_EQ(p1.launches, 1);
  expect_each_chunk_once(one, p1);
  // exactly kAdamWMaxTensors one-chunk tensors: one launch; one more: two
  EXPECT_EQ(pack(std::vector<int64_t>(kAdamWMaxTensors, 10)).launches, 1);
  EXPECT_EQ(pack(std::vector<int64_t>(kAdamWMaxTensors + 1, 10)).launches, 2);
  // exactly kAdamWMaxBlocks chunks in one tensor: one launch; a tensor ending on a full launch
  std::vector<int64_t> full = {kAdamWMaxBlocks * kAdamWChunk, 5};
  Packed pf = pack(full);
  expect_each_chunk_once(full, pf);
  EXPECT_EQ(pf.launches, 2);
  // a tensor continued over three launches
  std::vector<int64_t> huge = {3, 2 * kAdamWMaxBlocks * kAdamWChunk + 1};
  Packed ph = pack(huge);
  expect_each_chunk_once(huge, ph);
  EXPECT_EQ(ph.launches, 3);
}

TEST(AdamWPacking, StopsAtTheFirstError) {
  std::vector<AdamWTensor> ts(100);
  for (auto& t : ts) t.n = 5;
  int calls = 0;
  cudaError_t err = adamw_for_each_launch(ts.data(), int64_t(ts.size()), [&](const AdamWLaunch&) {
    ++calls;
    return cudaErrorInvalidValue;
  });
  EXPECT_EQ(err, cudaErrorInvalidValue);
  EXPECT_EQ(calls, 1);
}
