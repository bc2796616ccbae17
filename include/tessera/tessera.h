// The tessera core: arrays, ops, fused ops, transforms, random numbers, safetensors I/O and
// memory statistics.
#pragma once

#include "tessera/array.h"
#include "tessera/device.h"
#include "tessera/dtype.h"
#include "tessera/fast.h"
#include "tessera/half.h"
#include "tessera/io.h"
#include "tessera/memory.h"
#include "tessera/ops.h"
#include "tessera/random.h"
#include "tessera/transforms.h"
