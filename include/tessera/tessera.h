// The tessera core: arrays, ops, fused ops and transforms.
#pragma once

#include "tessera/array.h"
#include "tessera/device.h"
#include "tessera/dtype.h"
#include "tessera/fast.h"
#include "tessera/half.h"
#include "tessera/ops.h"
#include "tessera/quantized.h"
#include "tessera/transforms.h"
