// Training-step throughput of one replica's compute, alone on one thread:
// the sparse step with each kernel variant this processor runs, against a
// plain dense Eigen step of the same model (math::train_step, the peer any
// straightforward C++ implementation would be); then the loader's and the
// evaluator's rates (the evaluator's with each variant: amx trains with
// avx512's kernels, and evaluates on the tile unit).
//
//   build/emnist_kernel_bench --data ../shared/data/emnist [--steps 3000]
//                             [--rounds 7] [--batch 32] [--hidden 100]
//                             [--only dense|sse2|avx2|avx512|amx]
//
// Rounds are interleaved (every variant once per round, so that a slow
// spell of a shared machine falls on all of them); it prints each
// variant's median samples/s and its ratio to the dense peer. The
// minibatches are prepared beforehand, as the loader actor does.
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "model/data_files.hpp"
#include "model/mlp.hpp"
#include "model/mlp_math.hpp"
#include "model/rng.hpp"
#include "model/sparse_kernels.hpp"

namespace {

using namespace emnist;
using clock_type = std::chrono::steady_clock;

struct options {
  std::string data = "data/emnist";
  std::size_t steps = 3000;
  std::size_t rounds = 7;
  std::size_t batch = 32;
  std::size_t hidden = 100;
  std::string only;  ///< one variant ("dense", "sse2", ...) for profiling
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "emnist_kernel_bench: %s\nusage: emnist_kernel_bench --data DIR "
               "[--steps N] [--rounds N] [--batch N] [--hidden N] "
               "[--only dense|sse2|avx2|avx512|amx]\n",
               why);
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + flag).c_str());
    const std::string value = argv[++i];
    auto number = [&] {
      char* end = nullptr;
      const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
      if (end == value.c_str() || *end != '\0' || n == 0) {
        usage((flag + " '" + value + "': expected a positive integer").c_str());
      }
      return static_cast<std::size_t>(n);
    };
    if (flag == "--data")
      o.data = value;
    else if (flag == "--steps")
      o.steps = number();
    else if (flag == "--rounds")
      o.rounds = number();
    else if (flag == "--batch")
      o.batch = number();
    else if (flag == "--hidden")
      o.hidden = number();
    else if (flag == "--only")
      o.only = value;
    else
      usage(("unknown option " + flag).c_str());
  }
  return o;
}

struct prepared {
  std::vector<sparse_batch> sparse;
  std::vector<std::vector<float>> dense;
  std::vector<std::vector<std::uint8_t>> labels;
};

prepared prepare(const data_view& train, std::size_t batch, std::size_t count) {
  prepared p;
  rng random(7);
  std::vector<const std::uint8_t*> images(batch);
  for (std::size_t s = 0; s < count; ++s) {
    sparse_batch x;
    x.reserve(batch, train.features());
    std::vector<float> dense(batch * train.features());
    std::vector<std::uint8_t> labels(batch);
    for (std::size_t r = 0; r < batch; ++r) {
      const std::size_t i = random() % train.size();
      images[r] = train.image(i);
      labels[r] = train.label(i);
      to_float(images[r], train.features(),
               dense.data() + r * train.features());
    }
    x.assign(images.data(), batch, train.features());
    p.sparse.push_back(std::move(x));
    p.dense.push_back(std::move(dense));
    p.labels.push_back(std::move(labels));
  }
  return p;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  auto slice = parse_slice("test[:100000]");
  auto eval = parse_slice("test[100000:]");
  auto data = load_job_data({o.data, "bymerge", *slice, *eval});
  if (!data) {
    std::fprintf(stderr, "emnist_kernel_bench: %s\n",
                 data.error().message.c_str());
    return 2;
  }
  const mlp_shape shape{data->features, o.hidden, data->classes};
  // A distinct set of minibatches per step would be the loader's job; 512
  // cycled ones keep the working set as in training without the cost.
  const prepared batches = prepare(data->train, o.batch, 512);
  std::vector<float> initial(shape.size());
  init_parameters(shape, 1, initial);

  struct variant {
    std::string name;
    std::optional<kernels::isa> isa;  ///< empty: the dense Eigen peer
    std::vector<double> rates;
  };
  std::vector<variant> variants;
  variants.push_back({"dense Eigen (peer)", std::nullopt, {}});
  for (const auto i : kernels::supported_isas()) {
    // amx's training step is avx512's: timed only when asked for by name.
    if (i == kernels::isa::amx && o.only != kernels::isa_name(i)) continue;
    variants.push_back({std::string("sparse ") + kernels::isa_name(i), i, {}});
  }

  if (!o.only.empty()) {
    std::erase_if(variants, [&](const variant& v) {
      return (v.isa ? kernels::isa_name(*v.isa) : "dense") != o.only;
    });
    if (variants.empty())
      usage(("--only " + o.only + ": no such variant here").c_str());
  }

  std::vector<float> params(shape.size());
  math::workspace<float> work(shape, o.batch);
  std::vector<float> mask(o.batch * shape.hidden, 1.25f);
  for (std::size_t round = 0; round < o.rounds; ++round) {
    for (auto& v : variants) {
      params = initial;
      mlp_trainer trainer(shape, o.batch, 0.2f, 3);
      if (v.isa) (void)kernels::use_isa(*v.isa);
      const auto t0 = clock_type::now();
      for (std::size_t s = 0; s < o.steps; ++s) {
        const std::size_t b = s % batches.sparse.size();
        if (v.isa) {
          trainer.step(params, batches.sparse[b], batches.labels[b].data(),
                       0.1f);
        } else {
          math::train_step<float>(shape, params.data(), batches.dense[b].data(),
                                  batches.labels[b].data(), mask.data(),
                                  o.batch, work, 0.1f);
        }
      }
      const double seconds =
          std::chrono::duration<double>(clock_type::now() - t0).count();
      v.rates.push_back(static_cast<double>(o.steps * o.batch) / seconds);
    }
  }
  const double peer =
      variants.front().isa ? 0.0 : median(variants.front().rates);

  // The loader's share: building minibatches (both layouts) from images.
  std::vector<double> loader_rates;
  {
    sparse_batch x;
    x.reserve(o.batch, data->features);
    std::vector<const std::uint8_t*> images(o.batch);
    rng random(11);
    for (std::size_t round = 0; round < o.rounds; ++round) {
      const auto t0 = clock_type::now();
      for (std::size_t s = 0; s < o.steps; ++s) {
        for (auto& image : images) {
          image = data->train.image(random() % data->train.size());
        }
        x.assign(images.data(), o.batch, data->features);
      }
      loader_rates.push_back(
          static_cast<double>(o.steps * o.batch) /
          std::chrono::duration<double>(clock_type::now() - t0).count());
    }
  }
  std::printf(
      "%-22s %14s %10s   (%zu rounds of %zu steps, batch %zu, hidden %zu)\n",
      "variant", "samples/s", "vs peer", o.rounds, o.steps, o.batch, o.hidden);
  for (const auto& v : variants) {
    std::printf("%-22s %14.0f %9.2fx\n", v.name.c_str(), median(v.rates),
                peer > 0 ? median(v.rates) / peer : 0.0);
  }
  std::printf("%-22s %14.0f   (building minibatches, the loader's work)\n",
              "minibatch preparation", median(loader_rates));

  // The evaluator's: test accuracy of the initial parameters on data.eval,
  // with each variant's product (interleaved rounds, as above).
  struct evaluation {
    kernels::isa isa;
    std::vector<double> rates;
  };
  std::vector<evaluation> evaluations;
  for (const auto i : kernels::supported_isas()) {
    if (o.only.empty() || o.only == kernels::isa_name(i)) {
      evaluations.push_back({i, {}});
    }
  }
  mlp_evaluator evaluator(shape, 256);
  for (std::size_t round = 0; round < o.rounds; ++round) {
    for (auto& e : evaluations) {
      (void)kernels::use_isa(e.isa);
      const auto t0 = clock_type::now();
      const auto correct =
          evaluator.count_correct(initial, data->eval, 0, data->eval.size());
      e.rates.push_back(
          static_cast<double>(data->eval.size()) /
          std::chrono::duration<double>(clock_type::now() - t0).count());
      if (correct > data->eval.size()) return 1;  // keeps the call alive
    }
  }
  for (const auto& e : evaluations) {
    std::printf("%-22s %14.0f   (rows scored per second, %zu a pass)\n",
                (std::string("evaluation ") + kernels::isa_name(e.isa)).c_str(),
                median(e.rates), data->eval.size());
  }
  return 0;
}
