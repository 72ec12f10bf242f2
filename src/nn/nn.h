// Every nn layer, functional op, initialiser and utility: #include <tessera/nn/nn.h>.
#pragma once

#include "tessera/nn/attention.h"
#include "tessera/nn/clip_grad.h"
#include "tessera/nn/container.h"
#include "tessera/nn/dropout.h"
#include "tessera/nn/embedding.h"
#include "tessera/nn/functional.h"
#include "tessera/nn/init.h"
#include "tessera/nn/linear.h"
#include "tessera/nn/mlp.h"
#include "tessera/nn/module.h"
#include "tessera/nn/normalization.h"
#include "tessera/nn/transformer_block.h"
#include "tessera/nn/unary_module.h"
