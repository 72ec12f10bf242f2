// The data pipeline in one include: tokenizer, datasets (shapes, image-caption files, text),
// loaders and image I/O (docs/data.md).
#pragma once

#include "tessera/models/data/dataset.h"
#include "tessera/models/data/image_caption_dataset.h"
#include "tessera/models/data/image_io.h"
#include "tessera/models/data/loader.h"
#include "tessera/models/data/sampler.h"
#include "tessera/models/data/shapes.h"
#include "tessera/models/data/text_corpus.h"
#include "tessera/models/data/tokenizer.h"
