// read_file / MappedFile errors and Note [atomic write]: a write that fails half-way (file size
// limit -> EFBIG, or an exception while streaming) or a writer SIGKILLed in the middle leaves the
// previous checkpoint loadable and never a partial file at the target path.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <tessera/tensor/file_io.h>
#include <tessera/tensor/safetensors.h>
#include <tessera/tessera.h>

#include "checkpoint_test_util.h"

using namespace tessera;
using namespace tessera::testing_ckpt;
namespace st = tessera::safetensors;

namespace {

bool exists(const std::string& p) {
  struct stat s {};
  return ::stat(p.c_str(), &s) == 0;
}

std::vector<std::string> temp_files(const ScratchDir& dir) {
  std::vector<std::string> out;
  for (const auto& n : dir.list())
    if (n.find(".tmp.") != std::string::npos) out.push_back(n);
  return out;
}

}  // namespace

TEST(FileIO, ReadFileErrorsNameThePath) {
  ScratchDir dir;
  expect_error<IOError>([&] { read_file(dir.file("missing.bin")); },
                        {"read_file", "missing.bin", "No such file", "check the path"});
  expect_error<IOError>([&] { read_file(dir.path()); }, {dir.path(), "is a directory"});
  expect_error<IOError>([&] { MappedFile m(dir.file("missing.bin")); }, {"missing.bin", "No such file"});
}

// EACCES for reading a mode-000 file and for creating the temp file in a read-only directory.
// Root ignores permissions, so as root the checks run in a child that drops to uid/gid 65534.
TEST(FileIO, PermissionDeniedNamesThePathAndTheFix) {
  ScratchDir dir;
  std::string secret = dir.file("secret.bin");
  atomic_write_file(secret, std::string_view("abc"));
  ASSERT_EQ(::chmod(secret.c_str(), 0), 0);
  std::string ro = dir.file("ro");
  ASSERT_EQ(::mkdir(ro.c_str(), 0555), 0);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);  // mkdtemp made it 0700: let the child in
  // Returns 0 when both errors are right, else a code naming what went wrong.
  auto check = [&]() -> int {
    try {
      read_file(secret);
      return 20;
    } catch (const IOError& e) {
      std::string m = e.what();
      if (m.find("secret.bin") == std::string::npos || m.find("Permission denied") == std::string::npos ||
          m.find("check the permissions") == std::string::npos)
        return 21;
    }
    try {
      atomic_write_file(ro + "/x.bin", std::string_view("x"));
      return 22;
    } catch (const IOError& e) {
      std::string m = e.what();
      if (m.find("ro/x.bin") == std::string::npos || m.find("Permission denied") == std::string::npos) return 23;
    }
    return 0;
  };
  if (::geteuid() != 0) {
    EXPECT_EQ(check(), 0) << "20/22 no error, 21/23 message";
    return;
  }
  std::fflush(nullptr);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(30);
    ::_exit(check());
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 30) GTEST_SKIP() << "running as root and setuid(65534) failed: EACCES not tested";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "20/22 no error, 21/23 message";
}

TEST(FileIO, AtomicWriteCreatesReplacesAndReadsBack) {
  ScratchDir dir;
  std::string p = dir.file("a.bin");
  atomic_write_file(p, std::string_view("first"));
  EXPECT_EQ(read_file(p), (std::vector<uint8_t>{'f', 'i', 'r', 's', 't'}));
  std::vector<uint8_t> second = {1, 2, 3};
  atomic_write_file(p, second);
  EXPECT_EQ(read_file(p), second);
  MappedFile m(p);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m.data()[2], 3);
  atomic_write_file(p, nullptr, 0);  // empty files are fine too
  EXPECT_TRUE(read_file(p).empty());
  EXPECT_EQ(MappedFile(p).size(), 0u);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"a.bin"});
  // The mapping taken before a replacement keeps the old content (a new inode took the path).
  EXPECT_EQ(m.data()[0], 1);
}

TEST(FileIO, ReadFileFromAPipe) {
  ScratchDir dir;
  std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] {
    FILE* f = std::fopen(fifo.c_str(), "w");
    if (f) {
      std::fputs("streamed", f);
      std::fclose(f);
    }
  });
  auto bytes = read_file(fifo);
  writer.join();
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "streamed");
}

TEST(FileIO, ReadFileWhoseReportedSizeIsZero) {
  // procfs files are regular files that report size 0 but have content.
  if (!exists("/proc/self/status")) GTEST_SKIP() << "no /proc/self/status (not Linux?)";
  auto bytes = read_file("/proc/self/status");
  EXPECT_NE(std::string(bytes.begin(), bytes.end()).find("Name:"), std::string::npos);
  MappedFile m("/proc/self/status");
  EXPECT_GT(m.size(), 0u);
}

TEST(FileIO, AtomicWriteToAMissingDirectoryThrowsAndWritesNothing) {
  ScratchDir dir;
  expect_error<IOError>([&] { atomic_write_file(dir.file("no/such/dir/x.bin"), std::string_view("x")); },
                        {"cannot create temp file", "no/such/dir/x.bin.tmp.", "No such file"});
  expect_error<IOError>([&] { atomic_write_file(dir.path() + "/", std::string_view("x")); }, {"not a file path"});
  EXPECT_TRUE(dir.list().empty());
}

TEST(FileIO, RenameOntoADirectoryFailsCleanly) {
  // The target exists as a non-empty directory: rename fails, the temp file is removed.
  ScratchDir dir;
  std::string p = dir.file("target");
  ASSERT_EQ(::mkdir(p.c_str(), 0755), 0);
  atomic_write_file(p + "/keep", std::string_view("k"));
  expect_error<IOError>([&] { atomic_write_file(p, std::string_view("x")); }, {"rename", "was not modified"});
  EXPECT_EQ(dir.list(), std::vector<std::string>{"target"});
}

TEST(FileIO, AbandonedWriterLeavesThePreviousFile) {
  ScratchDir dir;
  std::string p = dir.file("ckpt.bin");
  atomic_write_file(p, std::string_view("previous"));
  try {
    AtomicFileWriter w(p);
    w.write("half of the new ", 16);
    EXPECT_TRUE(exists(w.temp_path()));
    EXPECT_EQ(w.temp_path(), p + ".tmp." + std::to_string(::getpid()));
    throw std::runtime_error("failure in the middle of writing");
  } catch (const std::runtime_error&) {
  }
  auto bytes = read_file(p);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "previous");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"ckpt.bin"}) << "the temp file was removed";
}

// A real write error half-way: in a child process, RLIMIT_FSIZE makes write() fail with EFBIG
// after 64 KiB of a 1 MiB checkpoint. save() must throw IOError, remove its temp file and leave
// the previous checkpoint at the path.
TEST(FileIO, SaveFailingHalfWayKeepsThePreviousCheckpoint) {
  ScratchDir dir;
  std::string p = dir.file("model.safetensors");
  Tensor old_w = tessera::full({8}, 1.5);
  st::save(p, {{"w", old_w}});
  Tensor big = tessera::randn({256 * 1024});  // 1 MiB, made in the parent (no OpenMP in the child)
  std::fflush(nullptr);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: exit code 0 = saw the expected IOError with the temp file removed.
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl {64 * 1024, 64 * 1024};
    if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) ::_exit(10);
    try {
      st::save(p, {{"w", big}});
      ::_exit(11);  // should not succeed
    } catch (const IOError& e) {
      std::string msg = e.what();
      if (msg.find("File too large") == std::string::npos) ::_exit(12);
      if (msg.find("was not modified") == std::string::npos) ::_exit(13);
      if (exists(p + ".tmp." + std::to_string(::getpid()))) ::_exit(14);
      ::_exit(0);
    } catch (...) {
      ::_exit(15);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child died with signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 setrlimit, 11 no error, 12/13 message, 14 temp kept, 15 other exception";
  st::File f = st::load(p);
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_TRUE(f.tensors[0].second.equal(old_w));
  EXPECT_TRUE(temp_files(dir).empty());
}

// A writer SIGKILLed while it writes: the path holds the previous checkpoint or a complete new
// one, never a partial file. The child rewrites a 32 MiB checkpoint in a loop; the parent kills
// it once its temp file has data in it.
TEST(FileIO, WriterKilledMidWriteLeavesALoadableCheckpoint) {
  ScratchDir dir;
  std::string p = dir.file("model.safetensors");
  Tensor old_w = tessera::full({4}, -2.0);
  st::save(p, {{"w", old_w}});
  Tensor big = tessera::randn({8 * 1024 * 1024});
  std::fflush(nullptr);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    for (;;) {
      try {
        st::save(p, {{"w", big}});
      } catch (...) {
        ::_exit(3);
      }
    }
  }
  std::string tmp = p + ".tmp." + std::to_string(pid);
  bool seen_partial = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    struct stat s {};
    if (::stat(tmp.c_str(), &s) == 0 && s.st_size > 0 && s.st_size < 32 * 1024 * 1024) {
      seen_partial = true;
      break;
    }
    std::this_thread::yield();
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the child stopped by itself: " << status;
  EXPECT_TRUE(seen_partial) << "never saw the child's temp file part-written within 30 s";
  // Whatever instant the kill landed, the path loads (checksum verified) as old or new content.
  st::File f = st::load(p);
  ASSERT_EQ(f.tensors.size(), 1u);
  const Tensor& w = f.tensors[0].second;
  EXPECT_TRUE(w.equal(old_w) || w.equal(big)) << "neither the previous nor the new checkpoint";
  // A killed writer cannot clean up: at most its own temp file remains, never at the target path.
  for (const auto& t : temp_files(dir)) EXPECT_EQ(t, "model.safetensors.tmp." + std::to_string(pid));
}
