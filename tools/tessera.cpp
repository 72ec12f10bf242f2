// The `tessera` command-line tool: `tessera train|eval|generate|plot|recipes`, `tessera demo`,
// `tessera version`, `tessera info`.
// Subcommands live in tools/cli/ (commands.h); errors from the library (tessera::Error) are
// printed as "tessera: error: <message>" with exit code 1.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "tessera/build_info.h"

int main(int argc, char** argv) {
  CLI::App app{fmt::format("tessera {}: a C++20 tensor and autograd framework", tessera::build_info().version),
               "tessera"};
  app.require_subcommand(1);
  tessera::cli::add_demo_command(app);
  tessera::cli::add_version_command(app);
  tessera::cli::add_info_command(app);
  tessera::cli::add_train_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tessera: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
