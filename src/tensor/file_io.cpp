// read_file and the atomic writer (Note [atomic write] in file_io.h), on POSIX file descriptors.
#include "tessera/tensor/file_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tessera {

namespace {

std::string errno_str(int err) { return fmt::format("{} (errno {})", std::strerror(err), err); }

// What to check, for the common errno values of open().
std::string open_hint(int err) {
  switch (err) {
    case ENOENT: return "check the path (does the file, or its directory, exist?)";
    case EACCES:
    case EPERM: return "check the permissions of the file and of its directory";
    case EISDIR: return "the path is a directory; give the path of a file";
    case EROFS: return "the file system is read-only; write elsewhere";
    case ENOSPC:
    case EDQUOT: return "the disk (or quota) is full; free space or write elsewhere";
    default: return "check the path and permissions";
  }
}

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void close_noexcept(int fd) noexcept {
  if (fd >= 0) ::close(fd);
}

// Opens `path` for reading and stats it; throws IOError for a missing file, permissions, a directory.
int open_for_read(const std::string& path, struct stat* st) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    throw IOError(fmt::format("read_file: cannot open '{}': {}; {}", path, errno_str(err), open_hint(err)));
  }
  if (::fstat(fd, st) != 0) {
    int err = errno;
    close_noexcept(fd);
    throw IOError(fmt::format("read_file: cannot stat '{}': {}", path, errno_str(err)));
  }
  if (S_ISDIR(st->st_mode)) {
    close_noexcept(fd);
    throw IOError(fmt::format("read_file: '{}' is a directory; give the path of a file", path));
  }
  return fd;
}

// Reads all of `fd` (closes it, also on error).
std::vector<uint8_t> read_fd(int fd, const struct stat& st, const std::string& path) {
  std::vector<uint8_t> out;
  if (S_ISREG(st.st_mode)) {
    // A regular file: at least the size fstat reported; fewer bytes means it was truncated.
    size_t expected = static_cast<size_t>(st.st_size);
    out.resize(expected);
    size_t got = 0;
    while (got < expected) {
      ssize_t n = ::read(fd, out.data() + got, expected - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        close_noexcept(fd);
        throw IOError(fmt::format("read_file: error reading '{}' after {} of {} bytes: {}", path, got,
                                  expected, errno_str(err)));
      }
      if (n == 0) {
        close_noexcept(fd);
        throw IOError(fmt::format("read_file: short read of '{}': expected {} bytes, got {} (the file "
                                  "shrank while being read; is another process rewriting it?)",
                                  path, expected, got));
      }
      got += static_cast<size_t>(n);
    }
  }
  // Then until end of file: pipes and character devices, files that report size 0 (/proc),
  // files that grew since fstat.
  uint8_t buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close_noexcept(fd);
      throw IOError(fmt::format("read_file: error reading '{}' after {} bytes: {}", path, out.size(),
                                errno_str(err)));
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  close_noexcept(fd);
  return out;
}

}  // namespace

std::vector<uint8_t> read_file(const std::string& path) {
  struct stat st {};
  int fd = open_for_read(path, &st);
  return read_fd(fd, st, path);
}

MappedFile::MappedFile(const std::string& path) {
  struct stat st {};
  int fd = open_for_read(path, &st);
  if (S_ISREG(st.st_mode) && st.st_size > 0) {
    void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      close_noexcept(fd);  // the mapping keeps the file referenced
      data_ = static_cast<const uint8_t*>(p);
      size_ = static_cast<size_t>(st.st_size);
      mapped_ = true;
      return;
    }
  }
  buffer_ = read_fd(fd, st, path);  // not mappable: read it
  data_ = buffer_.data();
  size_ = buffer_.size();
}

MappedFile::~MappedFile() {
  if (mapped_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  TESSERA_CHECK(!path_.empty() && path_.back() != '/', IOError,
                "atomic_write_file: '{}' is not a file path; give the path of a file", path_);
  temp_path_ = fmt::format("{}.tmp.{}", path_, static_cast<long>(::getpid()));
  // O_TRUNC: a stale temp file of a killed process that had our pid is overwritten.
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    int err = errno;
    throw IOError(fmt::format("atomic_write_file: cannot create temp file '{}' for '{}': {}; {}", temp_path_,
                              path_, errno_str(err), open_hint(err)));
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) abandon();
}

void AtomicFileWriter::abandon() noexcept {
  close_noexcept(fd_);
  fd_ = -1;
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t size) {
  TESSERA_CHECK(fd_ >= 0 && !committed_, IOError,
                "atomic_write_file: write to '{}' after commit() or after a failure", path_);
  const auto* p = static_cast<const uint8_t*>(data);
  size_t done = 0;
  while (done < size) {
    // Chunks of at most 1 GiB: Linux writes at most ~2 GiB per call anyway.
    size_t chunk = std::min<size_t>(size - done, size_t(1) << 30);
    ssize_t n = ::write(fd_, p + done, chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : ENOSPC;
      throw IOError(fmt::format("atomic_write_file: writing '{}' failed after {} bytes: {}; {}; '{}' was not "
                                "modified",
                                temp_path_, written_ + done, errno_str(err), open_hint(err), path_));
    }
    done += static_cast<size_t>(n);
  }
  written_ += size;
}

void AtomicFileWriter::commit() {
  TESSERA_CHECK(fd_ >= 0 && !committed_, IOError, "atomic_write_file: commit() of '{}' called twice", path_);
  if (::fsync(fd_) != 0) {
    int err = errno;
    throw IOError(fmt::format("atomic_write_file: fsync of '{}' failed: {}; '{}' was not modified", temp_path_,
                              errno_str(err), path_));
  }
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    int err = errno;
    throw IOError(fmt::format("atomic_write_file: close of '{}' failed: {}; '{}' was not modified", temp_path_,
                              errno_str(err), path_));
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    throw IOError(fmt::format("atomic_write_file: rename '{}' -> '{}' failed: {}; {}; '{}' was not modified",
                              temp_path_, path_, errno_str(err), open_hint(err), path_));
  }
  committed_ = true;  // from here on the temp file is gone: nothing to clean up
  std::string dir = dir_of(path_);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    int err = errno;
    throw IOError(fmt::format("atomic_write_file: '{}' was written, but its directory '{}' could not be opened "
                              "to sync the rename: {}",
                              path_, dir, errno_str(err)));
  }
  int rc = ::fsync(dfd);
  int err = errno;
  close_noexcept(dfd);
  // Some file systems refuse fsync on directories (EINVAL); the rename is then as durable as they allow.
  if (rc != 0 && err != EINVAL) {
    throw IOError(fmt::format("atomic_write_file: '{}' was written, but fsync of its directory '{}' failed: {}",
                              path_, dir, errno_str(err)));
  }
}

void atomic_write_file(const std::string& path, const void* data, size_t size) {
  AtomicFileWriter w(path);
  w.write(data, size);
  w.commit();
}

void atomic_write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  atomic_write_file(path, bytes.data(), bytes.size());
}

void atomic_write_file(const std::string& path, std::string_view bytes) {
  atomic_write_file(path, bytes.data(), bytes.size());
}

}  // namespace tessera
