// plot_loss_curve (plot.h): JSONL metrics -> loss curves -> PNG.
#include "tessera/models/plot.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>

#include "tessera/models/plot_canvas.h"
#include "tessera/tensor/error.h"

namespace tessera::models {

namespace {

constexpr Rgb kWhite{255, 255, 255}, kBlack{0, 0, 0}, kGrid{225, 225, 225}, kTrain{31, 119, 180},
    kEval{230, 110, 20}, kText{40, 40, 40};

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `target` ticks over `span`.
double nice_step(double span, int target) {
  double raw = span / std::max(1, target);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double r = raw / mag;
  return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

std::string tick_label(double v, double step) {
  if (std::abs(v) < step * 1e-6) v = 0;
  if (std::abs(v) >= 1e6 || (v != 0 && std::abs(v) < 1e-4)) return fmt::format("{:.2g}", v);
  int decimals = std::max(0, int(-std::floor(std::log10(step) + 1e-9)));
  return fmt::format("{:.{}f}", v, decimals);
}

struct Axis {
  double lo, hi, step;
};

// Expands [lo, hi] to whole tick steps (a flat range gets some height).
Axis make_axis(double lo, double hi, int target) {
  if (!(hi > lo)) {
    double pad = std::max(std::abs(lo) * 0.1, 1e-3);
    lo -= pad, hi += pad;
  }
  double step = nice_step(hi - lo, target);
  return {std::floor(lo / step + 1e-9) * step, std::ceil(hi / step - 1e-9) * step, step};
}

bool number(const nlohmann::json& j, const char* key, double* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return false;
  *out = it->get<double>();
  return std::isfinite(*out);
}

}  // namespace

LossCurves read_loss_curves(const std::string& path) {
  std::ifstream in(path);
  TESSERA_CHECK(in.good(), ValueError, "plot_loss_curve: cannot open metrics log '{}'", path);
  LossCurves c;
  std::string line;
  int64_t line_no = 0, record = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw ValueError(fmt::format("plot_loss_curve: {}:{}: not valid JSON ({}); each line must be one object like "
                                   "{{\"step\": 10, \"loss\": 2.3}}",
                                   path, line_no, e.what()));
    }
    TESSERA_CHECK(j.is_object(), ValueError, "plot_loss_curve: {}:{}: expected a JSON object, found {}", path,
                  line_no, j.type_name());
    double step = double(record++), v = 0;
    number(j, "step", &step);
    if (number(j, "loss", &v)) c.steps.push_back(step), c.loss.push_back(v);
    if (number(j, "eval_loss", &v)) c.eval_steps.push_back(step), c.eval_loss.push_back(v);
  }
  return c;
}

void plot_loss_curves(const LossCurves& c, const std::string& png_path, const PlotOptions& o) {
  TESSERA_CHECK(!c.loss.empty() || !c.eval_loss.empty(), ValueError,
                "plot_loss_curve: no finite \"loss\" or \"eval_loss\" values to plot (for '{}')", png_path);
  TESSERA_CHECK(c.steps.size() == c.loss.size() && c.eval_steps.size() == c.eval_loss.size(), ValueError,
                "plot_loss_curve: steps and values differ in length");
  TESSERA_CHECK(o.width >= 200 && o.height >= 150 && o.width <= 8192 && o.height <= 8192, ValueError,
                "plot_loss_curve: size {}x{} must be within 200x150 .. 8192x8192", o.width, o.height);
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const auto* xs : {&c.steps, &c.eval_steps})
    for (double x : *xs) xmin = std::min(xmin, x), xmax = std::max(xmax, x);
  for (const auto* ys : {&c.loss, &c.eval_loss})
    for (double y : *ys) ymin = std::min(ymin, y), ymax = std::max(ymax, y);
  Axis ax = make_axis(xmin, xmax, 8), ay = make_axis(ymin, ymax, 6);

  const int scale = o.height >= 400 ? 2 : 1;
  const int64_t th = Canvas::text_height(scale);
  // Plot area [left, right] x [top, bottom]; room for y labels on the left, x labels below.
  int64_t label_w = 0;
  for (double v = ay.lo; v <= ay.hi + ay.step * 0.5; v += ay.step)
    label_w = std::max(label_w, Canvas::text_width(tick_label(v, ay.step), scale));
  // The last x label is centred on the right edge of the plot area: leave room for its half.
  const int64_t last_x_w = Canvas::text_width(tick_label(ax.hi, ax.step), scale);
  const int64_t left = label_w + 20, right = o.width - std::max<int64_t>(20, last_x_w / 2 + 8);
  const int64_t top = 3 * th + 10, bottom = o.height - 3 * th - 16;
  auto px = [&](double x) { return left + (x - ax.lo) / (ax.hi - ax.lo) * double(right - left); };
  auto py = [&](double y) { return bottom - (y - ay.lo) / (ay.hi - ay.lo) * double(bottom - top); };

  Canvas cv(o.width, o.height, kWhite);
  // Grid, ticks and tick labels.
  for (double v = ay.lo; v <= ay.hi + ay.step * 0.5; v += ay.step) {
    int64_t y = std::lround(py(v));
    cv.line(double(left), double(y), double(right), double(y), kGrid);
    cv.line(double(left - 6), double(y), double(left), double(y), kBlack);
    std::string s = tick_label(v, ay.step);
    cv.text(left - 10 - Canvas::text_width(s, scale), y - th / 2, s, kText, scale);
  }
  for (double v = ax.lo; v <= ax.hi + ax.step * 0.5; v += ax.step) {
    int64_t x = std::lround(px(v));
    cv.line(double(x), double(top), double(x), double(bottom), kGrid);
    cv.line(double(x), double(bottom), double(x), double(bottom + 6), kBlack);
    std::string s = tick_label(v, ax.step);
    cv.text(x - Canvas::text_width(s, scale) / 2, bottom + 10, s, kText, scale);
  }
  // Axes, axis names, title.
  cv.line(double(left), double(top), double(left), double(bottom), kBlack, 2);
  cv.line(double(left), double(bottom), double(right), double(bottom), kBlack, 2);
  cv.text((left + right) / 2 - Canvas::text_width("step", scale) / 2, bottom + 14 + th, "step", kText, scale);
  cv.text(left, th / 2 + 4, o.title, kText, scale);
  // Curves.
  for (size_t i = 0; i + 1 < c.loss.size(); ++i)
    cv.line(px(c.steps[i]), py(c.loss[i]), px(c.steps[i + 1]), py(c.loss[i + 1]), kTrain, 2);
  if (c.loss.size() == 1) cv.line(px(c.steps[0]), py(c.loss[0]), px(c.steps[0]), py(c.loss[0]), kTrain, 5);
  for (size_t i = 0; i < c.eval_loss.size(); ++i) {
    if (i + 1 < c.eval_loss.size())
      cv.line(px(c.eval_steps[i]), py(c.eval_loss[i]), px(c.eval_steps[i + 1]), py(c.eval_loss[i + 1]), kEval, 2);
    cv.line(px(c.eval_steps[i]), py(c.eval_loss[i]), px(c.eval_steps[i]), py(c.eval_loss[i]), kEval, 7);
  }
  // Legend, top right.
  int64_t lx = right - Canvas::text_width("train", scale) - 40, ly = th / 2 + 4;
  if (!c.loss.empty()) {
    cv.line(double(lx - 30), double(ly + th / 2), double(lx - 6), double(ly + th / 2), kTrain, 3);
    cv.text(lx, ly, "train", kText, scale);
    ly += th + 6;
  }
  if (!c.eval_loss.empty()) {
    cv.line(double(lx - 30), double(ly + th / 2), double(lx - 6), double(ly + th / 2), kEval, 2);
    cv.line(double(lx - 18), double(ly + th / 2), double(lx - 18), double(ly + th / 2), kEval, 7);
    cv.text(lx, ly, "eval", kText, scale);
  }
  data::write_png(png_path, cv.image());
}

void plot_loss_curve(const std::string& metrics_jsonl_path, const std::string& png_path, const PlotOptions& options) {
  LossCurves c = read_loss_curves(metrics_jsonl_path);
  TESSERA_CHECK(!c.loss.empty() || !c.eval_loss.empty(), ValueError,
                "plot_loss_curve: '{}' has no finite \"loss\" or \"eval_loss\" values; expected lines like "
                "{{\"step\": 10, \"loss\": 2.3}}",
                metrics_jsonl_path);
  plot_loss_curves(c, png_path, options);
}

}  // namespace tessera::models
