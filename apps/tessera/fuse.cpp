// `tessera fuse`: bake an adapter into its base model and write a model folder.
#include <iostream>
#include <memory>

#include "command.h"
#include "tessera/lm/tuner.h"

namespace tessera::cli {
namespace {

void setup(CLI::App& app) {
  auto options = std::make_shared<lm::FuseOptions>();
  options->model_path = default_model_path();
  options->adapter_path = "adapters";
  options->save_path = "fused_model";
  app.add_option("--model", options->model_path, "Base model folder")->capture_default_str();
  app.add_option("--adapter-path", options->adapter_path, "Adapter folder")->capture_default_str();
  app.add_option("--save-path", options->save_path, "Folder for the fused model (must not exist)")
      ->capture_default_str();
  app.add_flag("--dequantize", options->dequantize, "Write float weights for a quantized base");
  app.callback([options] {
    lm::fuse(*options);
    std::cout << "Fused model saved to " << options->save_path << "\n";
  });
}

const bool registered = register_command({"fuse", "Fuse an adapter into its base model", setup});

}  // namespace
}  // namespace tessera::cli
