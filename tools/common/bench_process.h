// Helpers for benchmarks that measure each case in its own process (so peak memory is per case):
// peak/current RSS from /proc/self/status, resetting the peak, process CPU time, medians, running a
// worker process that prints "key value" lines, and the path of the running binary.
#pragma once

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tessera::tools {

// A field of /proc/self/status in kB ("VmRSS", "VmHWM"), or -1.
inline long long status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, n, key) == 0 && line.size() > n && line[n] == ':') return std::atoll(line.c_str() + n + 1);
  }
  return -1;
}

// Resets VmHWM to the current RSS (Linux >= 4.0); returns whether it worked.
inline bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  return bool(f);
}

inline double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// CPU time of the whole process (all threads), ms: less disturbed by other processes than wall time.
inline double process_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

using KeyValues = std::map<std::string, double>;

// Runs `cmd` and returns the "key value" lines it prints, in order (empty when the command cannot
// start, e.g. no python3). Its stderr is discarded unless `keep_stderr` (then it goes to ours, so a
// worker can say why it measured nothing).
inline std::vector<std::pair<std::string, double>> read_key_values(const std::string& cmd, bool keep_stderr = false) {
  std::vector<std::pair<std::string, double>> out;
  FILE* p = popen((keep_stderr ? cmd : cmd + " 2>/dev/null").c_str(), "r");
  if (!p) return out;
  char key[64];
  double v;
  while (std::fscanf(p, "%63s %lf", key, &v) == 2) out.emplace_back(key, v);
  pclose(p);
  return out;
}

// The same as a map (a worker process's measurement).
inline KeyValues run_worker_process(const std::string& cmd, bool keep_stderr = false) {
  KeyValues r;
  for (auto& [k, v] : read_key_values(cmd, keep_stderr)) r[k] = v;
  return r;
}

inline double median_of(const std::vector<KeyValues>& runs, const char* key) {
  std::vector<double> v;
  for (const KeyValues& r : runs) {
    if (r.count(key)) v.push_back(r.at(key));
  }
  return median(v);
}

inline std::string self_exe(const char* fallback) {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return fallback;
  buf[n] = 0;
  return buf;
}

}  // namespace tessera::tools
