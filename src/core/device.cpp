#include "tessera/device.h"

#include <stdexcept>

namespace tessera {

const Device Device::cpu{Device::Type::cpu, 0};
const Device Device::gpu{Device::Type::gpu, 0};

namespace {
Device& default_device_storage() {
  static Device d = Device::cpu;
  return d;
}
}  // namespace

bool is_available(Device d) { return d.type == Device::Type::cpu; }

Device default_device() { return default_device_storage(); }

void set_default_device(Device d) {
  if (!is_available(d)) {
    throw std::runtime_error("[set_default_device] The GPU device is not available in this build.");
  }
  default_device_storage() = d;
}

Device to_device(const StreamOrDevice& s, const char* op) {
  if (std::holds_alternative<std::monostate>(s)) return default_device_storage();
  Device d = std::get<Device>(s);
  if (!is_available(d)) {
    throw std::runtime_error(std::string("[") + op + "] The GPU device is not available in this build.");
  }
  return d;
}

std::string to_string(Device d) {
  return (d.type == Device::Type::cpu ? std::string("cpu(") : std::string("gpu(")) + std::to_string(d.index) + ")";
}

}  // namespace tessera
