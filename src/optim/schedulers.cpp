#include "tessera/optim/schedulers.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

namespace tessera::optim {

namespace {

void require_positive(const char* name, const char* what, int value) {
  if (value <= 0) {
    throw std::invalid_argument(std::string("[") + name + "] " + what + " must be positive, got " +
                                std::to_string(value));
  }
}

}  // namespace

Schedule exponential_decay(float init, float decay_rate) {
  return [=](int step) { return init * std::pow(decay_rate, static_cast<float>(step)); };
}

Schedule step_decay(float init, float decay_rate, int step_size) {
  require_positive("step_decay", "step_size", step_size);
  return [=](int step) { return init * std::pow(decay_rate, static_cast<float>(step / step_size)); };
}

Schedule cosine_decay(float init, int decay_steps, float end) {
  require_positive("cosine_decay", "decay_steps", decay_steps);
  return [=](int step) {
    const double s = std::min(step, decay_steps);
    const double decay = 0.5 * (1.0 + std::cos(std::numbers::pi * s / decay_steps));
    return static_cast<float>(end + decay * (init - end));
  };
}

Schedule linear_schedule(float init, float end, int steps) {
  require_positive("linear_schedule", "steps", steps);
  return [=](int step) {
    const double s = std::min(step, steps);
    return static_cast<float>(init + s * (static_cast<double>(end) - init) / steps);
  };
}

Schedule join_schedules(std::vector<Schedule> schedules, std::vector<int> boundaries) {
  if (schedules.empty() || boundaries.size() + 1 != schedules.size()) {
    throw std::invalid_argument("[join_schedules] need one boundary fewer than schedules");
  }
  return [schedules = std::move(schedules), boundaries = std::move(boundaries)](int step) {
    size_t i = 0;
    while (i < boundaries.size() && step >= boundaries[i]) ++i;
    return schedules[i](i == 0 ? step : step - boundaries[i - 1]);
  };
}

Schedule with_warmup(Schedule schedule, float peak, int warmup, float warmup_init) {
  if (warmup <= 0) return schedule;
  return join_schedules({linear_schedule(warmup_init, peak, warmup), std::move(schedule)}, {warmup + 1});
}

}  // namespace tessera::optim
