// main() for every tessera GoogleTest binary (replaces gtest_main), adding one rule:
//
// Note [skipped test binaries exit 77]
// GoogleTest exits 0 when tests call GTEST_SKIP(), so meson would count a binary whose tests all
// skipped (e.g. the gpu suite on a machine without a GPU) as OK. Meson counts exit code 77 as
// SKIP (the automake convention). So: when no test failed, at least one was skipped and none
// passed, this main prints the skip reasons and returns 77, and `meson test`'s summary shows the
// binary under "Skipped". A binary where some tests pass and some skip still returns 0; it lists
// how many skipped and why on stderr (visible with --print-errorlogs / in the test log), so a
// skip is never silent. GPU tests go in their own binary (suite 'gpu') so that "no GPU" shows up
// as a skipped binary in the summary.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

// Collects "Suite.Name: reason" for every skipped test.
class SkipCollector : public testing::EmptyTestEventListener {
 public:
  void OnTestEnd(const testing::TestInfo& info) override {
    const testing::TestResult* r = info.result();
    if (!r->Skipped()) return;
    std::string reason;
    for (int i = 0; i < r->total_part_count(); ++i) {
      const testing::TestPartResult& part = r->GetTestPartResult(i);
      if (part.skipped() && part.message() && *part.message()) reason = part.message();
    }
    skipped_.push_back(std::string(info.test_suite_name()) + "." + info.name() +
                       (reason.empty() ? std::string() : ": " + reason));
  }
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  std::vector<std::string> skipped_;
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  auto* collector = new SkipCollector;  // owned by gtest's listener list
  testing::UnitTest::GetInstance()->listeners().Append(collector);
  int rc = RUN_ALL_TESTS();
  const testing::UnitTest& ut = *testing::UnitTest::GetInstance();
  const auto& skipped = collector->skipped();
  if (rc != 0 || skipped.empty()) return rc;
  std::fprintf(stderr, "%zu test(s) SKIPPED:\n", skipped.size());
  for (const std::string& s : skipped) std::fprintf(stderr, "  %s\n", s.c_str());
  if (ut.successful_test_count() == 0 && ut.failed_test_count() == 0) {
    std::fprintf(stderr, "every test in this binary was skipped: exit 77 (meson counts it as SKIP)\n");
    return 77;
  }
  return rc;
}
