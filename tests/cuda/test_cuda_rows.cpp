// The row kernels of kernels/norm.cu (Note [row kernels]) at the sizes where their paths change:
// n in {1, 7, 33, 1024 (last warp-per-row size), 1025 (first block-per-row), 4096, 10007 (beyond
// the register cache for 16-bit types)}, every float dtype, 16-byte aligned rows (vector path)
// and rows shifted by one element (scalar path), against float64 references written here.
// Also the tiled transposed copy of copy_fill.cu.
#include <cmath>

#include "cuda_test_util.h"

using namespace tessera;
using namespace cuda_test;

namespace {
Backend& gpu() { return backend_for(kDev); }

const std::vector<int64_t> kRowSizes = {1, 7, 33, 1024, 1025, 4096, 10007};

double rtol_for(DType dt) {
  switch (dt) {
    case kFloat64: return 1e-11;
    case kFloat32: return 2e-5;
    case kFloat16: return 3e-3;
    default: return 1.2e-2;
  }
}

// ||got - want|| / ||want|| below rtol, and the largest error below 4 rtol * max |want|
// (so one wrong element in a long row is caught too). NaN (an unwritten poisoned output) fails.
void expect_rel(const Tensor& got_t, const std::vector<double>& want, double rtol, const std::string& what) {
  std::vector<double> got = values(got_t);
  ASSERT_EQ(got.size(), want.size()) << what;
  double num = 0, den = 0, maxerr = 0, maxw = 0;
  size_t worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double e = std::fabs(got[i] - want[i]);
    if (!(e <= maxerr)) {  // NaN-aware
      maxerr = std::isnan(e) ? INFINITY : e;
      worst = i;
    }
    num += e * e;
    den += want[i] * want[i];
    maxw = std::max(maxw, std::fabs(want[i]));
  }
  double rel = std::sqrt(num / std::max(den, 1e-300));
  EXPECT_TRUE(rel < rtol) << what << ": relative error " << rel << " (tol " << rtol << ")";
  EXPECT_TRUE(maxerr <= 4 * rtol * std::max(maxw, 1e-30))
      << what << ": element " << worst << " got " << got[worst] << " want " << want[worst];
}

// A contiguous CUDA copy of `cpu` that starts `shift` elements into its buffer (shift 1 breaks
// 16-byte alignment of every row: the scalar path).
Tensor device_copy(const Tensor& cpu, int64_t shift) {
  if (shift == 0) return to_cuda(cpu);
  Tensor big = poisoned({cpu.numel() + shift}, cpu.dtype());
  Tensor view = raw::as_strided(big, cpu.sizes(), cpu.contiguous().strides(), shift);
  raw::copy_(view, cpu);
  return view;
}
Tensor poisoned_shifted(IntArrayRef shape, DType dt, int64_t shift) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  Tensor big = poisoned({n + shift}, dt);
  Tensor flat = raw::as_strided(big, {n}, {1}, shift);
  return raw::view(flat, shape);
}
}  // namespace

TEST(CudaRows, SoftmaxAllPaths) {
  REQUIRE_CUDA();
  for (DType dt : kFloatTypes)
    for (int64_t n : kRowSizes)
      for (int64_t shift : {0, 1}) {
        int64_t rows = n <= 1024 ? 11 : 3;  // 11 rows: a partial last block in warp-per-row mode
        Tensor hx = random_cpu({rows, n}, dt, -6, 6), hg = random_cpu({rows, n}, dt);
        std::vector<double> x = values(hx), g = values(hg);
        for (bool log : {false, true}) {
          std::string tag = std::string(log ? "log_softmax " : "softmax ") + dn(dt) + " n=" + std::to_string(n) +
                            " shift=" + std::to_string(shift);
          Tensor out = poisoned_shifted({rows, n}, dt, shift);
          gpu().softmax(out, device_copy(hx, shift), log);
          std::vector<double> want(x.size());
          for (int64_t r = 0; r < rows; ++r) {
            double m = -INFINITY, s = 0;
            for (int64_t j = 0; j < n; ++j) m = std::max(m, x[size_t(r * n + j)]);
            for (int64_t j = 0; j < n; ++j) s += std::exp(x[size_t(r * n + j)] - m);
            for (int64_t j = 0; j < n; ++j) {
              double v = x[size_t(r * n + j)] - m;
              want[size_t(r * n + j)] = log ? v - std::log(s) : std::exp(v) / s;
            }
          }
          expect_rel(out, want, rtol_for(dt), tag);
          Tensor gi = poisoned_shifted({rows, n}, dt, shift);
          gpu().softmax_backward(gi, device_copy(hg, shift), out, log);
          std::vector<double> y = values(out), wg(x.size());
          for (int64_t r = 0; r < rows; ++r) {
            double s = 0;
            for (int64_t j = 0; j < n; ++j) {
              size_t i = size_t(r * n + j);
              s += log ? g[i] : g[i] * y[i];
            }
            for (int64_t j = 0; j < n; ++j) {
              size_t i = size_t(r * n + j);
              wg[i] = log ? g[i] - std::exp(y[i]) * s : y[i] * (g[i] - s);
            }
          }
          expect_rel(gi, wg, 2 * rtol_for(dt), "backward " + tag);
        }
      }
}

TEST(CudaRows, LayerNormRmsNormAllPaths) {
  REQUIRE_CUDA();
  for (DType dt : kFloatTypes)
    for (int64_t n : kRowSizes)
      for (int64_t shift : {0, 1}) {
        // many short rows make the weight/bias reduction use several chunks
        int64_t rows = n <= 33 ? 2000 : n <= 1025 ? 70 : 5;
        DType sdt = dt == kFloat64 ? kFloat64 : kFloat32;
        Tensor hx = random_cpu({rows, n}, dt), hw = random_cpu({n}, dt), hb = random_cpu({n}, dt),
               hg = random_cpu({rows, n}, dt);
        std::vector<double> x = values(hx), w = values(hw), b = values(hb), g = values(hg);
        const double eps = 1e-5;
        for (bool rms : {false, true})
          for (bool affine : {true, false}) {
            std::string tag = std::string(rms ? "rms_norm " : "layer_norm ") + dn(dt) + " n=" + std::to_string(n) +
                              " shift=" + std::to_string(shift) + (affine ? "" : " no-affine");
            Tensor dx = device_copy(hx, shift), dw = affine ? device_copy(hw, shift) : Tensor(),
                   db = affine ? device_copy(hb, shift) : Tensor();
            Tensor out = poisoned_shifted({rows, n}, dt, shift), mean = poisoned({rows}, sdt),
                   rstd = poisoned({rows}, sdt);
            if (rms) gpu().rms_norm(out, rstd, dx, dw, eps);
            else gpu().layer_norm(out, mean, rstd, dx, dw, db, eps);
            std::vector<double> wo(x.size()), wm(static_cast<size_t>(rows)), wr(static_cast<size_t>(rows)), wgi(x.size()), wgw(static_cast<size_t>(n), 0),
                wgb(static_cast<size_t>(n), 0);
            for (int64_t r = 0; r < rows; ++r) {
              const double* xr = &x[size_t(r * n)];
              double m = 0, q = 0;
              if (!rms)
                for (int64_t j = 0; j < n; ++j) m += xr[j] / double(n);
              for (int64_t j = 0; j < n; ++j) q += (xr[j] - m) * (xr[j] - m) / double(n);
              double rs = 1 / std::sqrt(q + eps);
              wm[size_t(r)] = m;
              wr[size_t(r)] = rs;
              double s1 = 0, s2 = 0;
              for (int64_t j = 0; j < n; ++j) {
                size_t i = size_t(r * n + j);
                double xh = (xr[j] - m) * rs, wj = affine ? w[size_t(j)] : 1.0;
                wo[i] = xh * wj + (affine && !rms ? b[size_t(j)] : 0.0);
                s1 += g[i] * wj;
                s2 += g[i] * wj * xh;
                wgw[size_t(j)] += g[i] * xh;
                wgb[size_t(j)] += g[i];
              }
              for (int64_t j = 0; j < n; ++j) {
                size_t i = size_t(r * n + j);
                double xh = (xr[j] - m) * rs, wj = affine ? w[size_t(j)] : 1.0;
                wgi[i] = rs * (g[i] * wj - (rms ? 0 : s1 / double(n)) - xh * s2 / double(n));
              }
            }
            expect_rel(out, wo, rtol_for(dt), tag);
            expect_rel(rstd, wr, dt == kFloat64 ? 1e-11 : 1e-5, "rstd " + tag);
            if (!rms && n > 1) expect_rel(mean, wm, dt == kFloat64 ? 1e-11 : 1e-5, "mean " + tag);
            Tensor gi = poisoned_shifted({rows, n}, dt, shift);
            Tensor gw = affine ? poisoned({n}, dt) : Tensor(), gb = affine && !rms ? poisoned({n}, dt) : Tensor();
            if (rms) gpu().rms_norm_backward(gi, gw, device_copy(hg, shift), dx, rstd, dw);
            else gpu().layer_norm_backward(gi, gw, gb, device_copy(hg, shift), dx, mean, rstd, dw);
            // n == 1: grad_in is ~0 up to rounding (layer norm) — compare absolutely
            if (!rms && n == 1) {
              for (double v : values(gi)) EXPECT_NEAR(v, 0.0, 1e-3) << "grad_in " << tag;
            } else {
              expect_rel(gi, wgi, 3 * rtol_for(dt), "grad_in " + tag);
            }
            if (affine) {
              expect_rel(gw, wgw, 2 * rtol_for(dt), "grad_weight " + tag);
              if (!rms) expect_rel(gb, wgb, 2 * rtol_for(dt), "grad_bias " + tag);
            }
          }
      }
}

TEST(CudaRows, CrossEntropyAllPaths) {
  REQUIRE_CUDA();
  for (DType dt : kFloatTypes)
    for (int64_t C : kRowSizes)
      for (int64_t shift : {0, 1}) {
        int64_t N = C <= 1024 ? 19 : 4, ignore = -100;
        double smoothing = 0.1;
        Tensor hl = random_cpu({N, C}, dt, -4, 4);
        std::vector<int64_t> tv(static_cast<size_t>(N));
        for (int64_t i = 0; i < N; ++i) tv[size_t(i)] = (i * 7919) % C;
        tv[1] = ignore;
        Tensor ht = from_vector<int64_t>(tv, {N});
        DType ldt = dt == kFloat64 ? kFloat64 : kFloat32;
        std::string tag = "cross_entropy " + dn(dt) + " C=" + std::to_string(C) + " shift=" + std::to_string(shift);
        Tensor loss = poisoned({N}, ldt), lse = poisoned({N}, ldt);
        Tensor dl = device_copy(hl, shift);
        gpu().cross_entropy(loss, lse, dl, to_cuda(ht), ignore, smoothing);
        std::vector<double> x = values(hl), wl(static_cast<size_t>(N)), wlse(static_cast<size_t>(N)), wg(x.size());
        Tensor hg = random_cpu({N}, ldt);
        std::vector<double> g = values(hg);
        for (int64_t i = 0; i < N; ++i) {
          double m = -INFINITY, s = 0, sum = 0;
          for (int64_t j = 0; j < C; ++j) m = std::max(m, x[size_t(i * C + j)]);
          for (int64_t j = 0; j < C; ++j) {
            s += std::exp(x[size_t(i * C + j)] - m);
            sum += x[size_t(i * C + j)];
          }
          double l = m + std::log(s);
          wlse[size_t(i)] = l;
          int64_t t = tv[size_t(i)];
          wl[size_t(i)] = t == ignore ? 0 : (1 - smoothing) * (l - x[size_t(i * C + t)]) + smoothing * (l - sum / double(C));
          for (int64_t j = 0; j < C; ++j) {
            double p = std::exp(x[size_t(i * C + j)] - l);
            wg[size_t(i * C + j)] =
                t == ignore ? 0 : g[size_t(i)] * (p - smoothing / double(C) - (j == t ? 1 - smoothing : 0));
          }
        }
        double tol = dt == kFloat64 ? 1e-11 : 1e-5;
        expect_rel(lse, wlse, tol, "lse " + tag);
        expect_rel(loss, wl, tol, tag);
        Tensor gl = poisoned_shifted({N, C}, dt, shift);
        gpu().cross_entropy_backward(gl, to_cuda(hg), dl, lse, to_cuda(ht), ignore, smoothing);
        expect_rel(gl, wg, 2 * rtol_for(dt), "backward " + tag);
      }
}

TEST(CudaCopy, TransposedTiledPath) {
  REQUIRE_CUDA();
  for (DType dt : kAllTypes)
    for (auto [a, b] : {std::pair<int64_t, int64_t>{16, 16}, {33, 100}, {1025, 7}, {100, 1025}, {257, 129}}) {
      Tensor h = random_cpu({a, b}, dt);
      Tensor d = to_cuda(h);
      Tensor t = raw::transpose(d, 0, 1);  // [b, a] view
      Tensor out = poisoned({b, a}, dt);
      gpu().copy(out, t);
      std::vector<double> hv = values(h), want(hv.size());
      for (int64_t i = 0; i < b; ++i)
        for (int64_t j = 0; j < a; ++j) want[size_t(i * a + j)] = hv[size_t(j * b + i)];
      expect_close(out, want, Tol{0, 0}, "transposed copy " + dn(dt) + " " + std::to_string(a) + "x" + std::to_string(b));
    }
  // batched, with a non-unit outer stride: [3, 65, 47] -> permute(0, 2, 1) of a sliced tensor
  for (DType dt : {kFloat32, kBFloat16, kFloat64}) {
    Tensor h = random_cpu({6, 65, 47}, dt);
    Tensor d = raw::slice(to_cuda(h), 0, 0, std::nullopt, 2);  // [3, 65, 47], outer stride 2*65*47
    Tensor out = poisoned({3, 47, 65}, dt);
    gpu().copy(out, raw::permute(d, {0, 2, 1}));
    std::vector<double> hv = values(h), want(static_cast<size_t>(3 * 47 * 65));
    for (int64_t z = 0; z < 3; ++z)
      for (int64_t i = 0; i < 47; ++i)
        for (int64_t j = 0; j < 65; ++j) want[size_t((z * 47 + i) * 65 + j)] = hv[size_t((2 * z * 65 + j) * 47 + i)];
    expect_close(out, want, Tol{0, 0}, "batched transposed copy " + dn(dt));
  }
}
