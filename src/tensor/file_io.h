// Whole-file reads and crash-safe (atomic) writes, used by checkpoints (safetensors.h) and
// anything else that must never leave a half-written file behind. POSIX only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/tensor/error.h"

namespace tessera {

// A file could not be opened, read, written, synced or renamed. The message names the
// operation, the path and the system error (strerror), and says what to check.
class IOError : public Error {
  using Error::Error;
};

// The whole content of `path`. Throws IOError naming the path for a missing file, a permission
// problem, a directory, or a short read (the file shrank while it was read).
std::vector<uint8_t> read_file(const std::string& path);

// A read-only view of a whole file: memory-mapped when it is a regular non-empty file (no copy;
// pages come from the page cache), read into a buffer otherwise (pipes, empty files). Errors as
// read_file. A file replaced by atomic_write_file while mapped keeps its old content here (the
// rename gives the path a new inode); truncating a mapped file in place is not supported.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::vector<uint8_t> buffer_;
};

// Note [atomic write]
// atomic_write_file / AtomicFileWriter never expose a partially written file at `path`:
//   1. the bytes go to "<path>.tmp.<pid>" in the same directory (same file system, so the
//      rename below is atomic);
//   2. the temp file is fsync'ed and closed;
//   3. it is renamed over `path` (readers see either the previous file or the new one, whole);
//   4. the directory is fsync'ed so that the rename itself survives a power loss.
// On any failure before the rename, the temp file is removed and IOError is thrown; the
// previous file at `path` is untouched. A process killed (SIGKILL, power loss) in the middle
// leaves the previous file intact and at worst a stray "<path>.tmp.<pid>" next to it.
// The temp name is per process: two threads of one process must not write the same path at once.
void atomic_write_file(const std::string& path, const void* data, size_t size);
void atomic_write_file(const std::string& path, const std::vector<uint8_t>& bytes);
void atomic_write_file(const std::string& path, std::string_view bytes);

// Streaming form of atomic_write_file for outputs too large to assemble in memory: write()
// appends, commit() does steps 2-4. Destroying the writer without commit() (e.g. because an
// exception is propagating) removes the temp file and leaves `path` untouched.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);  // creates the temp file; throws IOError
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t size);  // throws IOError (e.g. disk full), temp file kept until destruction
  void commit();                              // fsync, rename over the target, fsync the directory
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }
  uint64_t bytes_written() const { return written_; }

 private:
  void abandon() noexcept;  // closes and unlinks the temp file

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
  uint64_t written_ = 0;
};

}  // namespace tessera
