// emnist_delay_proxy: a TCP relay that delays every byte by a fixed time in
// each direction, so that benchmarks can put a network delay between the
// training replicas and memcached. This kernel has no netem (`tc qdisc ...
// netem delay` is unavailable) and Debian ships no toxiproxy, hence this.
//
//   emnist_delay_proxy --listen 127.0.0.1:0 --target 127.0.0.1:11211
//       --delay-ms 1.0
//
// prints `listening 127.0.0.1:PORT` and relays until SIGINT or SIGTERM. The
// delay is one way: a request/reply round trip gains 2 x delay. Each chunk
// read is stamped with its arrival time and written no earlier than
// arrival + delay; reading never waits for writing, so a stream is shifted in
// time, not slowed down (the queue is unbounded: fine for a benchmark). The
// TCP handshake to the target is not delayed. Addresses are numeric.
#include <boost/asio.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_chunk = 64 * 1024;
constexpr int exit_bad_args = 2;

struct chunk {
  clock_type::time_point due;
  std::vector<char> data;
};

// One direction of a relayed pair: `from` is read into `queue`, and the
// queue is written to `to`. `wake` is cancelled to wake an idle writer.
struct direction {
  direction(tcp::socket& f, tcp::socket& t)
      : from(f), to(t), wake(f.get_executor()) {}
  tcp::socket& from;
  tcp::socket& to;
  std::deque<chunk> queue;
  asio::steady_timer wake;
  bool reader_done = false;
};

// A client connection and its connection to the target. The four relay
// coroutines each hold a shared_ptr; the sockets close when the last ends.
struct relay_pair {
  relay_pair(tcp::socket c, tcp::socket t, clock_type::duration d)
      : client(std::move(c)), target(std::move(t)), delay(d) {}
  tcp::socket client;
  tcp::socket target;
  clock_type::duration delay;
  direction up{client, target};    // client -> target
  direction down{target, client};  // target -> client
  bool aborted = false;

  // A write failed: the peer is gone, so drop the whole pair now.
  void abort() {
    aborted = true;
    boost::system::error_code ignored;
    client.close(ignored);
    target.close(ignored);
    up.wake.cancel();
    down.wake.cancel();
  }
};

asio::awaitable<void> read_side(std::shared_ptr<relay_pair> p, direction& d) {
  std::vector<char> buf(max_chunk);
  for (;;) {
    auto [ec, n] =
        co_await d.from.async_read_some(asio::buffer(buf), use_tuple);
    if (ec) break;  // eof or error: the writer flushes, then shuts down
    bool writer_idle = d.queue.empty();
    d.queue.push_back({clock_type::now() + p->delay,
                       std::vector<char>(buf.begin(), buf.begin() + n)});
    // A busy writer (waiting for a due time or writing) rechecks the queue.
    if (writer_idle) d.wake.cancel();
  }
  d.reader_done = true;
  d.wake.cancel();
}

asio::awaitable<void> write_side(std::shared_ptr<relay_pair> p, direction& d) {
  while (!p->aborted) {
    if (d.queue.empty()) {
      if (d.reader_done) {
        boost::system::error_code ignored;
        d.to.shutdown(tcp::socket::shutdown_send, ignored);
        break;
      }
      d.wake.expires_at(clock_type::time_point::max());
      co_await d.wake.async_wait(use_tuple);
      continue;
    }
    if (clock_type::now() < d.queue.front().due) {
      d.wake.expires_at(d.queue.front().due);
      co_await d.wake.async_wait(use_tuple);
      continue;
    }
    auto [ec, n] = co_await asio::async_write(
        d.to, asio::buffer(d.queue.front().data), use_tuple);
    if (ec) {
      if (!p->aborted) p->abort();
      break;
    }
    d.queue.pop_front();
  }
}

// Catches what escapes a coroutine, at its co_spawn boundary.
auto log_failure(const char* what) {
  return [what](const std::exception_ptr& e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::cerr << "emnist_delay_proxy: " << what << ": " << x.what() << '\n';
    }
  };
}

asio::awaitable<void> serve(tcp::socket client, tcp::endpoint target_ep,
                            clock_type::duration delay) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket target(ex);
  auto [ec] = co_await target.async_connect(target_ep, use_tuple);
  if (ec) {
    std::cerr << "emnist_delay_proxy: cannot connect to " << target_ep << ": "
              << ec.message() << '\n';
    co_return;  // closes the client
  }
  boost::system::error_code ignored;
  client.set_option(tcp::no_delay(true), ignored);
  target.set_option(tcp::no_delay(true), ignored);
  auto p =
      std::make_shared<relay_pair>(std::move(client), std::move(target), delay);
  asio::co_spawn(ex, read_side(p, p->up), log_failure("read"));
  asio::co_spawn(ex, write_side(p, p->up), log_failure("write"));
  asio::co_spawn(ex, read_side(p, p->down), log_failure("read"));
  asio::co_spawn(ex, write_side(p, p->down), log_failure("write"));
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor,
                                  tcp::endpoint target_ep,
                                  clock_type::duration delay) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer backoff(ex);
  for (;;) {
    auto [ec, client] = co_await acceptor.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {  // e.g. out of file descriptors: do not spin
      std::cerr << "emnist_delay_proxy: accept: " << ec.message() << '\n';
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    asio::co_spawn(ex, serve(std::move(client), target_ep, delay),
                   log_failure("connection"));
  }
}

// --- command line -----------------------------------------------------------

struct options {
  tcp::endpoint listen{asio::ip::make_address_v4("127.0.0.1"), 0};
  tcp::endpoint target;
  double delay_ms = -1;
};

constexpr const char* usage =
    "usage: emnist_delay_proxy [--listen IP:PORT] --target IP:PORT "
    "--delay-ms MS\n";

[[noreturn]] void bad_args(const std::string& msg) {
  std::cerr << "emnist_delay_proxy: " << msg << '\n' << usage;
  std::exit(exit_bad_args);
}

// Parses all of `text` as a number.
template <class T>
bool parse_number(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc{} && end == text.data() + text.size();
}

// "127.0.0.1:11211" or "[::1]:11211"; numeric addresses only.
tcp::endpoint parse_endpoint(std::string_view arg, std::string_view text) {
  auto colon = text.rfind(':');
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(std::string(host), ec);
  if (colon == std::string_view::npos || ec ||
      !parse_number(text.substr(colon + 1), port) || port > 65535)
    bad_args(std::string(arg) + ": expected a numeric IP:PORT, got '" +
             std::string(text) + "'");
  return {addr, static_cast<unsigned short>(port)};
}

options parse_args(int argc, char** argv) {
  options o;
  bool have_target = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      std::exit(0);
    }
    if (arg != "--listen" && arg != "--target" && arg != "--delay-ms")
      bad_args("unknown argument '" + std::string(arg) + "'");
    if (i + 1 >= argc) bad_args(std::string(arg) + ": missing value");
    std::string_view value = argv[++i];
    if (arg == "--listen") {
      o.listen = parse_endpoint(arg, value);
    } else if (arg == "--target") {
      o.target = parse_endpoint(arg, value);
      have_target = true;
    } else if (!parse_number(value, o.delay_ms) || !std::isfinite(o.delay_ms) ||
               o.delay_ms < 0 || o.delay_ms > 60'000) {
      bad_args("--delay-ms: expected milliseconds in [0, 60000], got '" +
               std::string(value) + "'");
    }
  }
  if (!have_target) bad_args("--target is required");
  if (o.delay_ms < 0) bad_args("--delay-ms is required");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  options opt = parse_args(argc, argv);
  auto delay = std::chrono::duration_cast<clock_type::duration>(
      std::chrono::duration<double, std::milli>(opt.delay_ms));
  try {
    asio::io_context io(1);
    tcp::acceptor acceptor(io);
    boost::system::error_code ec;
    acceptor.open(opt.listen.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(opt.listen, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      std::cerr << "emnist_delay_proxy: cannot listen on " << opt.listen << ": "
                << ec.message() << '\n';
      return 1;
    }
    std::cout << "listening " << acceptor.local_endpoint() << std::endl;

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait(
        [&](const boost::system::error_code&, int) { io.stop(); });
    int status = 0;
    asio::co_spawn(io, accept_loop(acceptor, opt.target, delay),
                   [&](const std::exception_ptr& e) {
                     log_failure("accept loop")(e);
                     if (e) {
                       status = 1;
                       io.stop();
                     }
                   });
    io.run();
    return status;
  } catch (const std::exception& e) {
    std::cerr << "emnist_delay_proxy: " << e.what() << '\n';
    return 1;
  }
}
