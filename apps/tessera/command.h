// Subcommands register themselves here; main.cpp builds the command line from the registry.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace tessera::cli {

struct Command {
  std::string name;
  std::string help;
  // Adds the subcommand's options to `app` and sets its callback. The callback reports
  // failure by throwing; main() prints the message and exits with status 1.
  std::function<void(CLI::App& app)> setup;
};

bool register_command(Command command);
const std::vector<Command>& registered_commands();

// The built-in demo model, used when a command's --model is not given.
std::string default_model_path();

}  // namespace tessera::cli
