// The `tessera` CLI's subcommands. Each file in tools/cli/ adds one (or a small group) to the
// CLI11 app; tools/tessera.cpp calls these in order. 
#pragma once

#include <CLI/CLI.hpp>

namespace tessera::cli {

void add_demo_command(CLI::App& app);     // demo.cpp
void add_version_command(CLI::App& app);  // info.cpp
void add_info_command(CLI::App& app);     // info.cpp
void add_train_commands(CLI::App& app);   // train.cpp: train, recipes, eval, generate, plot

}  // namespace tessera::cli
