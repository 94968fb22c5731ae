#pragma once

/// Small deterministic random source for the simulator (same seed, same numbers everywhere).

#include <cmath>
#include <cstdint>

namespace aee::sim {

// Own generator and distributions instead of <random>: libstdc++ does not promise the
// same normal/poisson sequences across versions, and `--seed` must mean the same rows.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  /// Rng for an independent stream keyed by several values (seed, domain, index...).
  static Rng Derive(uint64_t a, uint64_t b, uint64_t c = 0, uint64_t d = 0) {
    return Rng(Mix(Mix(Mix(Mix(a) ^ b) ^ c) ^ d));
  }

  /// SplitMix64 finaliser: a good 64-bit hash.
  static uint64_t Mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  /// Uniform in [0, 1).
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  /// Uniform integer in [0, n).
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  bool Chance(double p) { return Uniform() < p; }

  double Normal() {
    // Box-Muller; 1 - U keeps the logarithm finite.
    const double u1 = 1.0 - Uniform();
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  double LogNormal(double median, double sigma) { return median * std::exp(sigma * Normal()); }
  double Exponential(double mean) { return -mean * std::log(1.0 - Uniform()); }

  uint64_t Poisson(double mean) {
    if (mean <= 0) return 0;
    if (mean > 30) {
      // Normal approximation is plenty for arrival counts this large.
      const double x = std::round(mean + std::sqrt(mean) * Normal());
      return x < 0 ? 0 : static_cast<uint64_t>(x);
    }
    const double limit = std::exp(-mean);
    uint64_t k = 0;
    double p = Uniform();
    while (p > limit) {
      ++k;
      p *= Uniform();
    }
    return k;
  }

 private:
  uint64_t state_;
};

}  // namespace aee::sim
