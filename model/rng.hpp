// A small, fast, seedable random generator (xoshiro256**, seeded through
// splitmix64), usable with <algorithm> and <random>.
//
//   emnist::rng r(seed_for(seed, replica, stream::dropout));
//   std::shuffle(order.begin(), order.end(), r);
//
// std::mt19937 is 2.5 KB of state and slower; dropout draws 3200 numbers a
// minibatch on the hot path.
#pragma once

#include <cstdint>
#include <limits>

namespace emnist {

inline std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// The independent random streams of a job, so that changing one use of
/// randomness never shifts another.
enum class rng_stream : std::uint64_t { init = 1, shuffle = 2, dropout = 3 };

/// Derives the seed of one stream of one replica from the job's seed.
inline std::uint64_t seed_for(std::uint64_t seed, std::uint64_t replica,
                              rng_stream s) {
  std::uint64_t x = seed;
  std::uint64_t a = splitmix64(x) ^ (replica * 0xd1b54a32d192ed03ULL);
  return splitmix64(a) ^
         (static_cast<std::uint64_t>(s) * 0x8cb92ba72f3d8dd7ULL);
}

class rng {
 public:
  using result_type = std::uint64_t;
  explicit rng(std::uint64_t seed) {
    for (auto& v : s_) v = splitmix64(seed);
  }
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() {
    return std::numeric_limits<result_type>::max();
  }
  result_type operator()() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  /// Uniform in [lo, hi).
  float uniform(float lo, float hi) {
    const float u = static_cast<float>((*this)() >> 40) * 0x1.0p-24f;
    return lo + (hi - lo) * u;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
  }
  std::uint64_t s_[4];
};

}  // namespace emnist
