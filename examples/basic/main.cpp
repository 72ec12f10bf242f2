// A program using tessera as an installed library: #include <tessera/tessera.h>, link -ltessera.
// Built by examples/basic/meson.build (dependency('tessera') via pkg-config, or as a meson
// subproject), or by hand:
//   c++ -std=c++20 main.cpp $(pkg-config --cflags --libs tessera) -o basic
#include <tessera/tessera.h>

#include <fmt/format.h>

int main() {
  fmt::print("tessera {}\n", tessera::build_info().version);
  tessera::Tensor x = tessera::arange(6, tessera::kFloat32).view({2, 3});
  tessera::Tensor y = x.t().contiguous();  // a transposed view, then a copy in row-major order
  tessera::Tensor g = x.matmul(x.t());      // the Gram matrix [[5, 14], [14, 50]]
  fmt::print("x:\n{}\nx.t().contiguous():\n{}\nx.matmul(x.t()):\n{}\n", x, y, g);
  // The exit status tells a script whether the library computed what we expect.
  bool ok = y.size(0) == 3 && y.data_ptr<float>()[1] == 3.0f && g.data_ptr<float>()[1] == 14.0f &&
            g.data_ptr<float>()[3] == 50.0f;
  return ok ? 0 : 1;
}
