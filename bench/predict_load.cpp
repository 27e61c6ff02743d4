// A load generator for emnist-predict: C keep-alive connections, each
// POSTing the same body as fast as its answers come, for S seconds. Prints
// one JSON line: requests, errors, requests_per_second and latency
// percentiles in milliseconds. Used by bench/predict_bench.py.
//
//   emnist_predict_load HOST PORT PATH CONTENT_TYPE BODY_FILE CONNECTIONS
//   SECONDS
#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr,
                 "usage: %s HOST PORT PATH CONTENT_TYPE BODY_FILE CONNECTIONS "
                 "SECONDS\n",
                 argv[0]);
    return 2;
  }
  const std::string host = argv[1], port = argv[2], path = argv[3],
                    type = argv[4];
  std::ifstream in(argv[5], std::ios::binary);
  const std::string body((std::istreambuf_iterator<char>(in)), {});
  const int connections = std::stoi(argv[6]);
  const auto duration = std::chrono::duration<double>(std::stod(argv[7]));

  std::mutex mutex;
  std::vector<double> latencies_ms;
  std::size_t errors = 0;
  const auto start = clock_type::now();
  const auto end =
      start + std::chrono::duration_cast<clock_type::duration>(duration);
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&] {
      std::vector<double> mine;
      std::size_t failed = 0;
      try {
        boost::asio::io_context io;
        tcp::resolver resolver(io);
        boost::beast::tcp_stream stream(io);
        stream.connect(resolver.resolve(host, port));
        http::request<http::string_body> req{http::verb::post, path, 11};
        req.set(http::field::host, host);
        req.set(http::field::content_type, type);
        req.keep_alive(true);
        req.body() = body;
        req.prepare_payload();
        boost::beast::flat_buffer buffer;
        while (clock_type::now() < end) {
          const auto t0 = clock_type::now();
          http::write(stream, req);
          http::response<http::string_body> res;
          http::read(stream, buffer, res);
          mine.push_back(
              std::chrono::duration<double, std::milli>(clock_type::now() - t0)
                  .count());
          if (res.result_int() != 200) ++failed;
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "connection: %s\n", e.what());
        ++failed;
      }
      std::lock_guard lock(mutex);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
      errors += failed;
    });
  }
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(clock_type::now() - start).count();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  const auto at = [&](double q) {
    return latencies_ms.empty()
               ? 0.0
               : latencies_ms[static_cast<std::size_t>(
                     q * static_cast<double>(latencies_ms.size() - 1))];
  };
  std::printf(
      "{\"requests\": %zu, \"errors\": %zu, \"seconds\": %.3f, "
      "\"requests_per_second\": %.1f, \"median_ms\": %.3f, \"p90_ms\": %.3f, "
      "\"p99_ms\": %.3f}\n",
      latencies_ms.size(), errors, seconds,
      static_cast<double>(latencies_ms.size()) / seconds, at(0.5), at(0.9),
      at(0.99));
  return errors == 0 ? 0 : 1;
}
