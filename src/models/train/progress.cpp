// ProgressBar: see progress.h.
#include "tessera/models/train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>

namespace tessera::train {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

ProgressBar::ProgressBar(int64_t total_steps, int64_t start_step, int64_t plain_every, std::FILE* out)
    : total_(total_steps),
      start_(start_step),
      plain_every_(plain_every > 0 ? plain_every : 1),
      out_(out),
      tty_(isatty(fileno(out)) != 0),
      step_(start_step),
      t0_(std::chrono::steady_clock::now()) {}

double ProgressBar::tokens_per_second() const {
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  return dt > 0 ? double(tokens_) / dt : 0.0;
}

void ProgressBar::update(int64_t step, double loss, double lr, int64_t tokens) {
  step_ = step;
  loss_ = loss;
  lr_ = lr;
  tokens_ += tokens;
  smoothed_loss_ = smoothed_loss_ < 0 ? loss : 0.9 * smoothed_loss_ + 0.1 * loss;
  if (tty_) {
    draw(false);
  } else if (step % plain_every_ == 0 || step == total_) {
    draw(true);
  }
}

void ProgressBar::draw(bool force_newline) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  int64_t done = step_ - start_;
  double eta = done > 0 ? elapsed / double(done) * double(total_ - step_) : NAN;
  std::string bar;
  if (tty_) {
    constexpr int kWidth = 24;
    int filled = total_ > 0 ? int(kWidth * step_ / total_) : 0;
    bar = "[" + std::string(filled, '=') + (filled < kWidth ? ">" : "") +
          std::string(kWidth - filled - (filled < kWidth ? 1 : 0), ' ') + "] ";
  }
  std::string line = fmt::format("{}step {}/{} | loss {:.4f} (avg {:.4f}) | lr {:.2e} | {:.0f} tok/s | ETA {}", bar,
                                 step_, total_, loss_, smoothed_loss_, lr_, tokens_per_second(), format_duration(eta));
  if (tty_ && !force_newline) {
    std::fprintf(out_, "\r%s\033[K", line.c_str());
    bar_visible_ = true;
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

void ProgressBar::message(const std::string& text) {
  if (bar_visible_) std::fprintf(out_, "\r\033[K");
  std::fprintf(out_, "%s\n", text.c_str());
  bar_visible_ = false;
  if (tty_) draw(false);
  std::fflush(out_);
}

void ProgressBar::finish() {
  if (bar_visible_) std::fprintf(out_, "\n");
  bar_visible_ = false;
  std::fflush(out_);
}

}  // namespace tessera::train
