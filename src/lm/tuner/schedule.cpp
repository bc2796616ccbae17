#include <stdexcept>

#include "tessera/lm/tuner.h"

namespace tessera::lm {

optim::Schedule build_schedule(const nlohmann::json& config) {
  try {
    const std::string name = config.at("name").get<std::string>();
    const nlohmann::json& a = config.at("arguments");
    if (!a.is_array() || a.empty()) throw std::invalid_argument("lr_schedule.arguments must be a non-empty list");
    auto arg = [&](size_t i, double fallback) { return i < a.size() ? a[i].get<double>() : fallback; };
    const float init = static_cast<float>(arg(0, 0));
    optim::Schedule schedule;
    if (name == "cosine_decay") {
      schedule = optim::cosine_decay(init, static_cast<int>(arg(1, 0)), static_cast<float>(arg(2, 0)));
    } else if (name == "linear_schedule") {
      schedule = optim::linear_schedule(init, static_cast<float>(arg(1, 0)), static_cast<int>(arg(2, 0)));
    } else if (name == "exponential_decay") {
      schedule = optim::exponential_decay(init, static_cast<float>(arg(1, 1)));
    } else if (name == "step_decay") {
      schedule = optim::step_decay(init, static_cast<float>(arg(1, 1)), static_cast<int>(arg(2, 0)));
    } else {
      throw std::invalid_argument("unknown lr_schedule name '" + name +
                                  "' (cosine_decay, linear_schedule, exponential_decay, step_decay)");
    }
    return optim::with_warmup(schedule, init, config.value("warmup", 0), config.value("warmup_init", 0.0f));
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("lr_schedule: ") + e.what());
  }
}

}  // namespace tessera::lm
