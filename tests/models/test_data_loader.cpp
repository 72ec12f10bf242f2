// data::CaptionLoader and collate_captions: Note [VLMBatch layout] (ids, labels, mask, images),
// the caption-too-long error, per-epoch shuffles that are permutations and depend only on the
// seed, exact resume from position(), drop_last.
#include <gtest/gtest.h>

#include <set>

#include <tessera/models/data/loader.h>
#include <tessera/models/data/shapes.h>
#include <tessera/models/data/tokenizer.h>
#include <tessera/tessera.h>

using namespace tessera;
using namespace tessera::data;

namespace {

// Sample i: caption "i" repeated (i % 4 + 1) times as text, image filled with i.
class CountingDataset : public CaptionDataset {
 public:
  explicit CountingDataset(int64_t n, int64_t side = 4) : n_(n), side_(side) {}
  int64_t size() const override { return n_; }
  int64_t image_size() const override { return side_; }
  CaptionSample get(int64_t i) const override {
    std::string caption;
    for (int64_t k = 0; k <= i % 4; ++k) caption += std::to_string(i);
    return {tessera::full({3, side_, side_}, double(i)), caption};
  }

 private:
  int64_t n_, side_;
};

// The sample indices of a batch, read back from the images.
std::vector<int64_t> batch_indices(const VLMBatch& b) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < b.images.size(0); ++i) out.push_back(int64_t(b.images[i][0][0][0].item<float>()));
  return out;
}

bool same_batch(const VLMBatch& a, const VLMBatch& b) {
  return a.images.equal(b.images) && a.input_ids.equal(b.input_ids) && a.labels.equal(b.labels) &&
         a.attention_mask.equal(b.attention_mask);
}

}  // namespace

TEST(CaptionLoader, BatchLayout) {
  auto ds = std::make_shared<CountingDataset>(8);
  CaptionLoader loader(ds, 4, 10, /*seed=*/0, /*shuffle=*/false);
  VLMBatch b = loader.next();
  ASSERT_EQ(b.images.sizes(), (IntArrayRef{4, 3, 4, 4}));
  ASSERT_EQ(b.input_ids.sizes(), (IntArrayRef{4, 10}));
  ASSERT_EQ(b.labels.sizes(), (IntArrayRef{4, 10}));
  ASSERT_EQ(b.attention_mask.sizes(), (IntArrayRef{4, 10}));
  EXPECT_EQ(b.input_ids.dtype(), kInt64);
  EXPECT_EQ(b.labels.dtype(), kInt64);
  EXPECT_EQ(b.attention_mask.dtype(), DType::Bool);
  EXPECT_EQ(b.images.dtype(), kFloat32);
  EXPECT_EQ(batch_indices(b), (std::vector<int64_t>{0, 1, 2, 3}));
  ByteTokenizer tok;
  for (int64_t r = 0; r < 4; ++r) {
    std::string caption = ds->get(r).caption;
    int64_t len = int64_t(caption.size()) + 2;
    for (int64_t t = 0; t < 10; ++t) {
      int64_t id = b.input_ids[r][t].item<int64_t>(), label = b.labels[r][t].item<int64_t>();
      bool mask = b.attention_mask[r][t].item<bool>();
      if (t == 0) EXPECT_EQ(id, kBos);
      else if (t <= int64_t(caption.size())) EXPECT_EQ(id, int64_t(static_cast<unsigned char>(caption[size_t(t - 1)])));
      else if (t == len - 1) EXPECT_EQ(id, kEos);
      else EXPECT_EQ(id, kPad);
      EXPECT_EQ(mask, t < len) << r << "," << t;
      EXPECT_EQ(label, t < len ? id : kIgnoreIndex) << r << "," << t;
    }
    EXPECT_EQ(tok.decode(b.input_ids[r]), caption);
  }
}

TEST(CaptionLoader, ShapesCaptionsFitTheRecipeLength) {
  auto ds = std::make_shared<ShapesDataset>(ShapesConfig{.min_shapes = 3, .max_shapes = 3, .seed = 4}, Split::Train,
                                            64);
  CaptionLoader loader(ds, 16, kMaxShapesCaptionBytes + 2, 1);
  for (int i = 0; i < 4; ++i) {
    VLMBatch b = loader.next();
    EXPECT_EQ(b.images.sizes(), (IntArrayRef{16, 3, 32, 32}));
    // Every row ends with eos inside the window.
    EXPECT_EQ(b.input_ids.eq(kEos).sum().item<int64_t>(), 16);
  }
}

TEST(CaptionLoader, TooLongCaptionNamesIndexAndLengths) {
  auto ds = std::make_shared<CountingDataset>(8);
  CaptionLoader loader(ds, 8, 5, 0, false);  // sample 7: "7777" -> 6 tokens
  try {
    loader.next();
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("sample 3 caption has 4 bytes, 6 tokens"), std::string::npos) << msg;
    EXPECT_NE(msg.find("max_text_len = 5"), std::string::npos) << msg;
  }
  EXPECT_THROW(CaptionLoader(ds, 9, 16, 0), ValueError);  // drop_last with fewer samples than a batch
  EXPECT_THROW(CaptionLoader(nullptr, 2, 16, 0), ValueError);
  EXPECT_THROW(CaptionLoader(ds, 0, 16, 0), ValueError);
}

TEST(CaptionLoader, ShuffleIsAPermutationPerEpochAndSeeded) {
  auto ds = std::make_shared<CountingDataset>(24);
  CaptionLoader a(ds, 6, 16, 42), b(ds, 6, 16, 42), c(ds, 6, 16, 43);
  EXPECT_EQ(a.batches_per_epoch(), 4);
  std::vector<std::vector<int64_t>> epochs(2);
  int differs = 0;
  for (int e = 0; e < 2; ++e) {
    for (int k = 0; k < 4; ++k) {
      VLMBatch x = a.next(), y = b.next();
      EXPECT_TRUE(same_batch(x, y));
      auto idx = batch_indices(x);
      differs += idx != batch_indices(c.next());
      epochs[size_t(e)].insert(epochs[size_t(e)].end(), idx.begin(), idx.end());
    }
  }
  for (auto& order : epochs) {
    EXPECT_EQ(std::set<int64_t>(order.begin(), order.end()).size(), 24u);
  }
  EXPECT_NE(epochs[0], epochs[1]);  // a new order each epoch
  std::vector<int64_t> identity(24);
  for (int64_t i = 0; i < 24; ++i) identity[size_t(i)] = i;
  EXPECT_NE(epochs[0], identity);
  EXPECT_GE(differs, 6);
  EXPECT_EQ(epoch_permutation(24, 42, 0), epochs[0]);
  EXPECT_EQ(epoch_permutation(24, 42, 1), epochs[1]);
}

TEST(CaptionLoader, ResumeFromPositionGivesTheSameBatches) {
  auto ds = std::make_shared<CountingDataset>(22);  // 22 / 4: 5 batches per epoch, 2 samples dropped
  CaptionLoader a(ds, 4, 16, 9);
  for (int k = 0; k < 7; ++k) a.next();
  LoaderPosition saved = a.position();
  EXPECT_EQ(saved, (LoaderPosition{1, 8}));
  std::vector<VLMBatch> expected;
  for (int k = 0; k < 9; ++k) expected.push_back(a.next());  // crosses into epoch 2
  CaptionLoader b(ds, 4, 16, 9);
  b.set_position(saved);
  for (int k = 0; k < 9; ++k) EXPECT_TRUE(same_batch(b.next(), expected[size_t(k)])) << "batch " << k;
  EXPECT_EQ(b.position(), a.position());
  EXPECT_THROW(b.set_position({0, 23}), ValueError);
  EXPECT_THROW(b.set_position({-1, 0}), ValueError);
}

TEST(CaptionLoader, KeepLastPartialBatch) {
  auto ds = std::make_shared<CountingDataset>(10);
  CaptionLoader loader(ds, 4, 16, 0, /*shuffle=*/false, /*drop_last=*/false);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  EXPECT_EQ(loader.next().images.size(0), 4);
  EXPECT_EQ(loader.next().images.size(0), 4);
  VLMBatch last = loader.next();
  EXPECT_EQ(batch_indices(last), (std::vector<int64_t>{8, 9}));
  EXPECT_EQ(batch_indices(loader.next()), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(loader.position(), (LoaderPosition{1, 4}));
}

TEST(CaptionLoader, MixedImageSizesAreAnError) {
  std::vector<CaptionSample> s = {{tessera::zeros({3, 4, 4}), "a"}, {tessera::zeros({3, 5, 5}), "b"}};
  EXPECT_THROW(collate_captions(s, 8, {10, 11}), ShapeError);
}
