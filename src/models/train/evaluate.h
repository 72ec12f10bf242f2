// Held-out evaluation of a captioning VLM: teacher-forced loss and token accuracy, and greedy captions
// compared exactly with the references — with the true images, with each image swapped for another
// one's (a model that ignored the image would score the same), and the best score any image-blind
// model could reach (the frequency of the most common caption).
#pragma once

#include <cstdint>

#include "tessera/models/data/loader.h"
#include "tessera/models/data/shapes.h"
#include "tessera/models/vlm.h"
#include "tessera/tensor/device.h"

namespace tessera::train {

struct EvalReport {
  int64_t samples = 0;
  double loss = 0;                 // mean cross-entropy per caption token, held-out split
  double exact_match = 0;          // greedy captions equal to the reference
  double exact_match_shuffled = 0; // same, with each image swapped for another one's
  double blind_best = 0;           // best possible exact match of an image-blind model (most frequent caption)
  double token_accuracy = 0;       // teacher-forced next-token accuracy on caption tokens
};
// The batch's tensors moved to `device` (no copy when already there).
data::VLMBatch to_device(const data::VLMBatch& batch, Device device);

// Evaluates on the first n samples of `dataset` in batches of `batch_size`.
EvalReport evaluate_captions(models::VLM& model, const data::CaptionDataset& dataset, int64_t n, int64_t max_text_len,
                             int64_t batch_size, Device device);

// Greedy captions (token ids after <bos>, up to and excluding <eos>) for a batch of images [B,3,H,W].
std::vector<std::vector<int64_t>> greedy_captions(models::VLM& model, const Tensor& images, int64_t max_text_len);

}  // namespace tessera::train
