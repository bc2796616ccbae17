// Devices. Every op takes a StreamOrDevice as its last argument; empty means the default device.
#pragma once

#include <string>
#include <variant>

namespace tessera {

struct Device {
  enum class Type { cpu, gpu };
  Type type = Type::cpu;
  int index = 0;

  constexpr Device() = default;
  constexpr Device(Type t, int i = 0) : type(t), index(i) {}
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }

  static const Device cpu;
  static const Device gpu;
};

Device default_device();
void set_default_device(Device d);
bool is_available(Device d);

using StreamOrDevice = std::variant<std::monostate, Device>;

// The device an op runs on: the requested one or the default. `op` names the op in the error
// thrown when the device is not available in this build.
Device to_device(const StreamOrDevice& s, const char* op = "device");

std::string to_string(Device d);

}  // namespace tessera
