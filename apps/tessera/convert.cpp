// `tessera convert`: Hugging Face folder -> mlx-lm style folder, optionally (de)quantized.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "command.h"
#include "tessera/dtype.h"
#include "tessera/lm/convert.h"

namespace tessera::cli {
namespace {

struct ConvertFlags {
  lm::ConvertOptions options;
  std::string dtype;
};

void run(ConvertFlags& flags) {
  lm::ConvertOptions options = flags.options;
  if (!flags.dtype.empty()) options.dtype = dtype_from_string(flags.dtype);
  if (isatty(fileno(stderr))) {
    options.progress = [](uint64_t done, uint64_t total) {
      const int width = 40;
      const double fraction = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
      const int filled = static_cast<int>(fraction * width);
      std::fprintf(stderr, "\r[%s%s] %3d%% %.2f / %.2f GB", std::string(filled, '#').c_str(),
                   std::string(width - filled, ' ').c_str(), static_cast<int>(fraction * 100), done / 1e9,
                   total / 1e9);
      if (done == total) std::fprintf(stderr, "\n");
    };
  }
  lm::convert(options);
}

const bool registered = register_command({
    "convert",
    "Convert a Hugging Face model folder, optionally quantizing it (like mlx_lm.convert)",
    [](CLI::App& app) {
      auto flags = std::make_shared<ConvertFlags>();
      auto& o = flags->options;
      app.add_option("--hf-path", o.hf_path, "Hugging Face model folder to convert")->required();
      app.add_option("--mlx-path", o.mlx_path, "Output folder (must not exist)")->required();
      app.add_flag("-q,--quantize", o.quantize, "Quantize the model");
      app.add_option("--q-bits", o.q_bits, "Bits per weight when quantizing")
          ->check(CLI::IsMember({2, 3, 4, 5, 6, 8}))
          ->capture_default_str();
      app.add_option("--q-group-size", o.q_group_size, "Group size when quantizing")
          ->check(CLI::IsMember({32, 64, 128}))
          ->capture_default_str();
      app.add_option("--dtype", flags->dtype,
                     "Type of the float weights (default: config.json's torch_dtype, else as stored)")
          ->check(CLI::IsMember({"float16", "bfloat16", "float32"}));
      app.add_flag("-d,--dequantize", o.dequantize, "Dequantize a quantized model");
      app.add_option("--quant-predicate", o.quant_predicate,
                     "Mixed-precision recipe: more bits for the sensitive layers")
          ->check(CLI::IsMember({"mixed_2_6", "mixed_3_4", "mixed_3_6", "mixed_4_6"}));
      app.callback([flags] { run(*flags); });
    },
});

}  // namespace
}  // namespace tessera::cli
