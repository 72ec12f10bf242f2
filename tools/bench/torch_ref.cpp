// Subprocess bridge to torch_ref.py (see torch_ref.h): the spec goes through a temporary JSON
// file, the result comes back as one JSON line on the script's stdout.
#include "torch_ref.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>

#include "tessera/tensor/error.h"

namespace tessera::bench {

namespace {

// Single-quotes `s` for /bin/sh.
std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Removes the file when it goes out of scope.
struct TempFile {
  std::string path;
  TempFile() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tessera-bench-XXXXXX").string();
    int fd = mkstemp(tmpl.data());
    TESSERA_CHECK(fd >= 0, RuntimeError, "tessera-bench: cannot create a temporary file in {}", tmpl);
    close(fd);
    path = tmpl;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace

TorchResult run_torch_reference(const std::string& python, const std::string& script,
                                const std::vector<BenchCase>& cases, const std::string& device, int threads,
                                const tools::TimingOptions& timing) {
  nlohmann::json spec = {{"device", device},
                         {"threads", threads},
                         {"timing",
                          {{"warmup", timing.warmup},
                           {"min_iters", timing.min_iters},
                           {"max_iters", timing.max_iters},
                           {"budget_s", timing.budget_s}}},
                         {"cases", nlohmann::json::array()}};
  for (const BenchCase& c : cases) spec["cases"].push_back(c.to_json());
  TempFile spec_file;
  std::ofstream(spec_file.path) << spec.dump();

  std::string cmd = fmt::format("{} {} {}", shell_quote(python), shell_quote(script), shell_quote(spec_file.path));
  FILE* pipe = popen(cmd.c_str(), "r");
  TESSERA_CHECK(pipe != nullptr, RuntimeError, "tessera-bench: cannot run `{}`", cmd);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  int status = pclose(pipe);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  TESSERA_CHECK(code == 0, RuntimeError, "tessera-bench: `{}` failed (exit status {}); run with --no-torch to skip "
                "the PyTorch reference", cmd, code);

  nlohmann::json res;
  try {
    res = nlohmann::json::parse(out);
  } catch (const nlohmann::json::exception& e) {
    throw RuntimeError(fmt::format("tessera-bench: cannot parse the output of `{}`: {}\noutput: {}", cmd, e.what(), out));
  }
  TorchResult r;
  r.version = res.at("torch").get<std::string>();
  r.threads = res.at("threads").get<int>();
  r.ms = res.at("ms").get<std::vector<double>>();
  TESSERA_CHECK(r.ms.size() == cases.size(), RuntimeError, "tessera-bench: torch_ref.py returned {} timings for {} cases",
                r.ms.size(), cases.size());
  return r;
}

}  // namespace tessera::bench
