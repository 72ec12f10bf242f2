// The `tessera` CLI's subcommands. Each file in tools/cli/ adds one (or a small group) to the
// CLI11 app; tools/tessera.cpp calls these in order. Later: train, eval, generate, bench.
#pragma once

#include <CLI/CLI.hpp>

namespace tessera::cli {

void add_demo_command(CLI::App& app);     // demo.cpp
void add_version_command(CLI::App& app);  // info.cpp
void add_info_command(CLI::App& app);     // info.cpp

}  // namespace tessera::cli
