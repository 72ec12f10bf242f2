// Custom GoogleTest main for the `gpu` suite: prints the random seed and the device (or LOUDLY why
// there is none), and exits with 77 (meson's "skipped") when every test skipped, so a machine
// without a GPU reports the suite as skipped rather than passed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "cuda_test_util.h"
#include "tessera/cuda/cuda.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  uint64_t seed = uint64_t(std::chrono::system_clock::now().time_since_epoch().count());
  if (const char* s = std::getenv("TESSERA_TEST_SEED")) seed = std::strtoull(s, nullptr, 10);
  cuda_test::set_seed(seed);
  std::printf("test_cuda: random seed %llu (set TESSERA_TEST_SEED to reproduce)\n", (unsigned long long)seed);
  if (!tessera::cuda::is_available()) {
    std::printf("test_cuda: *** NO CUDA DEVICE: %s -- every GPU test is SKIPPED ***\n",
                tessera::cuda::unavailable_reason().c_str());
  } else {
    std::printf("test_cuda: %d CUDA device(s)\n", tessera::cuda::device_count());
  }
  std::fflush(stdout);
  int rc = RUN_ALL_TESTS();
  const auto* u = ::testing::UnitTest::GetInstance();
  if (rc == 0 && u->skipped_test_count() > 0 && u->skipped_test_count() == u->test_to_run_count()) {
    std::printf("test_cuda: all %d tests SKIPPED (exit 77)\n", u->skipped_test_count());
    return 77;  // meson: skipped
  }
  return rc;
}
