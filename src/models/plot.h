// plot_loss_curve: a PNG of the training (and evaluation) loss from a JSONL metrics log, drawn
// with the built-in canvas (plot_canvas.h) so no plotting library is needed.
//
// The log has one JSON object per line, e.g. {"step": 10, "loss": 2.3, "eval_loss": 2.1, "lr": ...}:
// "loss" values form the train curve, "eval_loss" values the eval curve (line + markers), both
// against "step" (the line's 0-based number among non-blank lines when "step" is absent). Other
// keys, blank lines, null and non-finite values are skipped; a line that is not a JSON object is
// a ValueError naming the file and line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::models {

struct LossCurves {
  std::vector<double> steps, loss;            // train
  std::vector<double> eval_steps, eval_loss;  // eval (may be empty)
};

struct PlotOptions {
  int64_t width = 800, height = 500;  // >= 200 x 150
  std::string title = "loss";
};

LossCurves read_loss_curves(const std::string& metrics_jsonl_path);
// Writes the plot as an RGB PNG (white background, axes with ticks and numeric labels, train in
// blue, eval in orange, a legend). A log with no loss values at all is a ValueError.
void plot_loss_curves(const LossCurves& curves, const std::string& png_path, const PlotOptions& options = {});
void plot_loss_curve(const std::string& metrics_jsonl_path, const std::string& png_path,
                     const PlotOptions& options = {});

}  // namespace tessera::models

namespace tessera::data {
// The plan lists plot_loss_curve with the data pipeline: the same function under data::.
using models::plot_loss_curve;
}  // namespace tessera::data
