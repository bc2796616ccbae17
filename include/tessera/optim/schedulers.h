// Learning-rate schedules (mlx.optimizers.schedulers): functions of the update step, which
// counts from 0 for the first update.
#pragma once

#include <functional>
#include <vector>

namespace tessera::optim {

using Schedule = std::function<float(int step)>;

// init * decay_rate^step
Schedule exponential_decay(float init, float decay_rate);
// init * decay_rate^(step / step_size), integer division
Schedule step_decay(float init, float decay_rate, int step_size);
// end + (init - end) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps))
Schedule cosine_decay(float init, int decay_steps, float end = 0.0f);
// init + (end - init) * min(step, steps) / steps
Schedule linear_schedule(float init, float end, int steps);
// schedules[0] before boundaries[0], then schedules[i + 1](step - boundaries[i]) from boundaries[i] on.
Schedule join_schedules(std::vector<Schedule> schedules, std::vector<int> boundaries);
// `schedule` preceded by `warmup` steps of linear warmup from warmup_init to `peak` (mlx-lm's
// lr_schedule with "warmup": join_schedules([linear(warmup_init, peak, warmup), schedule], [warmup + 1])).
Schedule with_warmup(Schedule schedule, float peak, int warmup, float warmup_init = 0.0f);

}  // namespace tessera::optim
