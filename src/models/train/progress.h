// ProgressBar: the one-line training progress display of `tessera train` (step, loss, tokens/s, ETA).
// On a terminal it redraws one line with '\r'; otherwise (a log file, CI) it prints a plain line every
// `plain_every` updates, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace tessera::train {

class ProgressBar {
 public:
  ProgressBar(int64_t total_steps, int64_t start_step, int64_t plain_every, std::FILE* out = stdout);
  // Called after each optimizer step with that step's loss and the tokens it consumed.
  void update(int64_t step, double loss, double lr, int64_t tokens);
  // Prints a message on its own line without garbling the bar.
  void message(const std::string& text);
  void finish();
  double tokens_per_second() const;

 private:
  void draw(bool force_newline);

  int64_t total_, start_, plain_every_;
  std::FILE* out_;
  bool tty_;
  bool bar_visible_ = false;
  int64_t step_ = 0;
  double loss_ = 0, lr_ = 0, smoothed_loss_ = -1;
  int64_t tokens_ = 0;
  std::chrono::steady_clock::time_point t0_;
};

// "1h02m", "3m12s", "45s".
std::string format_duration(double seconds);

}  // namespace tessera::train
