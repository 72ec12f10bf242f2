// A test binary used only to check Note [skipped test binaries exit 77] (tests/common/meson.build
// runs it with different filters and checks the exit code): one test passes, one skips, one
// fails when TESSERA_PROBE_FAIL is set.
#include <gtest/gtest.h>

#include <cstdlib>

TEST(Probe, Passes) { EXPECT_EQ(1 + 1, 2); }

TEST(Probe, Skips) { GTEST_SKIP() << "probe: skipped on purpose"; }

TEST(Probe, FailsWhenAsked) {
  if (std::getenv("TESSERA_PROBE_FAIL") == nullptr) GTEST_SKIP() << "probe: TESSERA_PROBE_FAIL not set";
  ADD_FAILURE() << "probe: failing on purpose";
}
