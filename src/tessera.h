// The umbrella header: #include <tessera/tessera.h> gives the whole public API.
#pragma once

#include "tessera/autograd/autograd.h"
#include "tessera/autograd/checkpoint.h"
#include "tessera/autograd/function.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/gradcheck.h"
#include "tessera/autograd/node.h"
#include "tessera/autograd/ops.h"
#include "tessera/build_info.h"
#include "tessera/nn/module.h"
#include "tessera/tensor/device.h"
#include "tessera/tensor/dtype.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"
#include "tessera/tensor/scalar.h"
#include "tessera/tensor/tensor.h"
#include "tessera/tensor/tensor_options.h"
