// Held-out caption evaluation: see evaluate.h.
#include "tessera/models/train/evaluate.h"

#include <algorithm>
#include <map>

#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/ops.h"
#include "tessera/models/data/loader.h"
#include "tessera/models/data/tokenizer.h"
#include "tessera/tensor/factory.h"

namespace tessera::train {

data::VLMBatch to_device(const data::VLMBatch& b, Device device) {
  return {b.images.to(device), b.input_ids.to(device), b.labels.to(device), b.attention_mask.to(device)};
}

std::vector<std::vector<int64_t>> greedy_captions(models::VLM& model, const Tensor& images, int64_t max_text_len) {
  NoGradGuard no_grad;
  const int64_t B = images.size(0);
  models::LLM& lm = *model.language_model;
  std::vector<nn::KVCache> caches;               // filled by the first forward
  Tensor prefix = model.encode_images(images);  // [B, P, d]
  Tensor tokens = full({B, 1}, data::ByteTokenizer::kBos, TensorOptions(kInt64).device(images.device()));
  std::vector<std::vector<int64_t>> out(B);
  std::vector<bool> done(B, false);
  // Only the last position's logits are needed: run the lm_head on it alone.
  auto last_logits = [&](const Tensor& hidden) { return lm.lm_logits(hidden.select(1, hidden.size(1) - 1)); };
  Tensor logits = last_logits(lm.forward_hidden(tokens, {}, prefix, &caches));  // [B, V]
  for (int64_t t = 1; t < max_text_len; ++t) {
    Tensor next = logits.argmax(-1).cpu();  // [B]
    const int64_t* ids = next.data_ptr<int64_t>();
    bool all_done = true;
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      if (ids[b] == data::ByteTokenizer::kEos || ids[b] == data::ByteTokenizer::kPad) {
        done[b] = true;
      } else {
        out[b].push_back(ids[b]);
      }
      all_done = all_done && done[b];
    }
    if (all_done || t + 1 == max_text_len) break;
    logits = last_logits(lm.forward_hidden(next.view({B, 1}).to(images.device()), {}, {}, &caches));
  }
  return out;
}

EvalReport evaluate_captions(models::VLM& model, const data::CaptionDataset& dataset, int64_t n, int64_t max_text_len,
                             int64_t batch_size, Device device) {
  NoGradGuard no_grad;
  bool was_training = model.is_training();
  model.eval();
  EvalReport r;
  data::ByteTokenizer tok;
  std::map<std::string, int64_t> caption_counts;
  double loss_sum = 0, correct = 0, exact = 0, exact_shuffled = 0;
  int64_t label_tokens = 0;
  for (int64_t start = 0; start < n; start += batch_size) {
    int64_t bsz = std::min(batch_size, n - start);
    std::vector<int64_t> idx(bsz);
    for (int64_t i = 0; i < bsz; ++i) idx[i] = start + i;
    std::vector<data::CaptionSample> samples;
    for (int64_t i : idx) samples.push_back(dataset.get(i));
    data::VLMBatch batch = to_device(data::collate_captions(samples, max_text_len, idx), device);
    // Teacher-forced loss and next-token accuracy over caption tokens (the HF shift: t predicts t+1).
    Tensor logits = model.forward(batch);  // [B, T, V]
    int64_t T = logits.size(1);
    Tensor pred = logits.narrow(1, 0, T - 1).argmax(-1);
    Tensor target = batch.labels.narrow(1, 1, T - 1);
    Tensor valid = target != -100;
    int64_t count = valid.sum().item<int64_t>();
    correct += ((pred == target).logical_and(valid)).sum().item<double>();
    loss_sum += model.loss(batch).item<double>() * double(count);
    label_tokens += count;
    // Greedy captions with the true images and with the images rolled by one within the batch.
    auto refs = std::vector<std::string>(bsz);
    for (int64_t i = 0; i < bsz; ++i) {
      refs[i] = samples[i].caption;
      caption_counts[refs[i]]++;
    }
    auto got = greedy_captions(model, batch.images, max_text_len);
    Tensor rolled = bsz > 1 ? cat({batch.images.narrow(0, 1, bsz - 1), batch.images.narrow(0, 0, 1)}, 0) : batch.images;
    auto got_shuffled = greedy_captions(model, rolled, max_text_len);
    for (int64_t i = 0; i < bsz; ++i) {
      exact += tok.decode(got[i]) == refs[i];
      exact_shuffled += tok.decode(got_shuffled[i]) == refs[i];
    }
  }
  r.samples = n;
  r.loss = label_tokens > 0 ? loss_sum / double(label_tokens) : 0.0;
  r.token_accuracy = label_tokens > 0 ? correct / double(label_tokens) : 0.0;
  r.exact_match = n > 0 ? exact / double(n) : 0.0;
  r.exact_match_shuffled = n > 0 ? exact_shuffled / double(n) : 0.0;
  int64_t most = 0;
  for (const auto& [c, k] : caption_counts) most = std::max(most, k);
  r.blind_best = n > 0 ? double(most) / double(n) : 0.0;
  model.train(was_training);
  return r;
}

}  // namespace tessera::train
