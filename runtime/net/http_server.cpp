// The HTTP server: an accept loop and one coroutine per connection on an
// io_context of the server's own, run by io_threads threads; requests go
// to the handler through an asynchronous operation that its reply
// completes, from any thread. Each connection lives on a strand of its own:
// a tcp_stream's read, write and timer must never run on two threads at
// once, while different connections do.
#include "runtime/net/http_server.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "runtime/net/beast_request.hpp"

namespace emnist {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

expected<tcp::endpoint> parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_argument,
                      "http.listen: '" + text + "': " + why);
  };
  if (colon == std::string::npos) return bad("expected address:port");
  unsigned port = 0;
  const char* b = text.data() + colon + 1;
  const char* e = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(b, e, port);
  if (ec != std::errc{} || ptr != e || port > 65535) {
    return bad("port must be 0-65535");
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  boost::system::error_code error;
  const auto address = asio::ip::make_address(host, error);
  if (error) return bad("not a numeric IP address");
  return tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

}  // namespace

/// A request's completion, held by its reply callback. The callback may be
/// called, copied or dropped on any thread, at any time, even after the
/// server is gone: the completion (which holds the connection's strand)
/// is touched only under `mutex`, and stop() destroys every one not yet
/// answered while the io_context still exists (see drop_unanswered).
struct pending_reply {
  std::mutex mutex;
  virtual ~pending_reply() = default;
  /// Destroys the completion, if still held. Call with `mutex` held.
  virtual void drop() = 0;
};

template <class Done>
struct pending_reply_of final : pending_reply {
  std::optional<Done> done;
  void drop() override { done.reset(); }
};

struct http_server::impl {
  http_server_options options;
  http_handler handler;
  std::atomic<std::size_t> in_flight{0};
  std::atomic<bool> stopping{false};
  /// Signalled when a request's answer has gone out (stop() waits on it).
  std::mutex flight_mutex;
  std::condition_variable flight_done;
  // Declared before the threads: they outlive the io_context's users.
  asio::io_context io;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::mutex stop_mutex;
  /// The completions handed to reply callbacks, for drop_unanswered; the
  /// expired are pruned as the list grows.
  std::mutex replies_mutex;
  std::vector<std::weak_ptr<pending_reply>> replies;
  std::size_t prune_at = 64;

  void remember(const std::shared_ptr<pending_reply>& p) {
    std::lock_guard guard(replies_mutex);
    if (replies.size() >= prune_at) {
      std::erase_if(replies, [](const auto& w) { return w.expired(); });
      prune_at = std::max<std::size_t>(64, 2 * replies.size());
    }
    replies.push_back(p);
  }

  /// Once the io threads have stopped, before the io_context goes: a reply
  /// still held by a handler (or being sent, on another thread: its lock is
  /// waited for) must not touch the connection's strand after that.
  void drop_unanswered() {
    std::vector<std::shared_ptr<pending_reply>> held;
    {
      std::lock_guard guard(replies_mutex);
      for (const auto& w : replies) {
        if (auto p = w.lock()) held.push_back(std::move(p));
      }
      replies.clear();
    }
    for (const auto& p : held) {
      std::lock_guard guard(p->mutex);
      p->drop();
    }
  }

  /// Hands `req` to the handler; completes with its reply, on the
  /// connection's executor. A reply that never comes ends the connection
  /// when the last copy of the callback goes.
  template <class Token>
  auto async_handle(http_request req, Token&& token) {
    auto initiate = [this](auto done, http_request r) {
      using done_type = decltype(done);
      auto p = std::make_shared<pending_reply_of<done_type>>();
      p->done.emplace(std::move(done));
      remember(p);
      http_reply reply = [p](http_response response) {
        // Posted, and every copy of the strand gone, under the lock: the
        // server's stop waits for it (drop_unanswered).
        std::lock_guard guard(p->mutex);
        if (!p->done) return;  // answered already, or the server stopped
        auto d = std::move(*p->done);
        p->done.reset();
        auto ex = asio::get_associated_executor(d);
        asio::post(
            ex, [d = std::move(d), response = std::move(response)]() mutable {
              std::move(d)(std::move(response));
            });
      };
      handler(std::move(r), std::move(reply));
    };
    return asio::async_initiate<Token, void(http_response)>(initiate, token,
                                                            std::move(req));
  }

  /// Sends `r`. `head`: the answer to a HEAD request, which announces the
  /// body's length but sends no body (RFC 9110, 9.3.2).
  awaitable<bool> write(beast::tcp_stream& stream, const http_response& r,
                        bool keep_alive, unsigned version, bool head = false) {
    stream.expires_after(options.read_timeout);
    if (head) {
      http::response<http::empty_body> res{static_cast<http::status>(r.status),
                                           version};
      set_fields(res, r, keep_alive);
      res.content_length(r.body.size());
      auto [ec, n] = co_await http::async_write(stream, res,
                                                asio::as_tuple(use_awaitable));
      co_return !ec;
    }
    http::response<http::string_body> res{static_cast<http::status>(r.status),
                                          version};
    set_fields(res, r, keep_alive);
    res.body() = r.body;
    res.prepare_payload();
    auto [ec, n] =
        co_await http::async_write(stream, res, asio::as_tuple(use_awaitable));
    co_return !ec;
  }

  template <class Response>
  static void set_fields(Response& res, const http_response& r,
                         bool keep_alive) {
    res.set(http::field::server, "emnist");
    res.set(http::field::content_type, r.content_type);
    // A browser takes each answer for what its Content-Type says: a JSON
    // error naming a client's text is never sniffed into a page.
    res.set("X-Content-Type-Options", "nosniff");
    for (const auto& [k, v] : r.headers) res.set(k, v);
    res.keep_alive(keep_alive);
  }

  awaitable<void> session(beast::tcp_stream stream) {
    beast::flat_buffer buffer;
    bool first = true;
    while (!stopping) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options.max_body_bytes);
      stream.expires_after(first ? options.read_timeout : options.idle_timeout);
      first = false;
      auto [ec, n] = co_await http::async_read(stream, buffer, parser,
                                               asio::as_tuple(use_awaitable));
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == beast::error::timeout || ec == asio::error::connection_reset ||
          ec == asio::error::operation_aborted) {
        break;
      }
      if (ec) {
        const auto response =
            ec == http::error::body_limit
                ? json_error(413,
                             "request body larger than http.max_body_bytes (" +
                                 std::to_string(options.max_body_bytes) +
                                 " bytes)",
                             "body")
                : json_error(400, "malformed request: " + ec.message(),
                             "request");
        co_await write(stream, response, false, 11);
        break;
      }
      auto& msg = parser.get();
      const bool keep_alive = msg.keep_alive();
      const unsigned version = msg.version();
      auto converted = request_of(std::move(msg));
      if (!converted) {
        co_await write(stream,
                       json_error(400, converted.error().message, "target"),
                       false, version);
        break;
      }
      http_request req = std::move(*converted);
      ++in_flight;
      struct done_guard {
        impl& self;
        ~done_guard() {
          {
            std::lock_guard lock(self.flight_mutex);
            --self.in_flight;
          }
          self.flight_done.notify_all();
        }
      } guard{*this};
      const bool head = req.method == "HEAD";
      auto response = co_await async_handle(std::move(req), use_awaitable);
      if (!co_await write(stream, response, keep_alive, version, head) ||
          !keep_alive) {
        break;
      }
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  awaitable<void> accept_loop() {
    for (;;) {
      // The socket is born on its connection's strand; the session below,
      // and every completion of its I/O, run there.
      auto [ec, socket] = co_await acceptor->async_accept(
          asio::make_strand(io), asio::as_tuple(use_awaitable));
      if (ec) {
        if (stopping || !acceptor->is_open()) co_return;
        continue;  // e.g. too many open files: try the next one
      }
      socket.set_option(tcp::no_delay(true));
      auto strand = socket.get_executor();
      asio::co_spawn(strand, session(beast::tcp_stream(std::move(socket))),
                     [](std::exception_ptr e) {
                       if (!e) return;
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& x) {
                         std::fprintf(stderr, "emnist: http connection: %s\n",
                                      x.what());
                       }
                     });
    }
  }
};

http_server::http_server(http_server_options options, http_handler handler)
    : impl_(std::make_unique<impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
}

http_server::~http_server() {
  stop();
}

expected<std::uint16_t> http_server::start() {
  auto endpoint = parse_listen(impl_->options.listen);
  if (!endpoint) return endpoint.error();
  boost::system::error_code ec;
  impl_->acceptor.emplace(impl_->io);
  impl_->acceptor->open(endpoint->protocol(), ec);
  if (!ec) impl_->acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor->bind(*endpoint, ec);
  if (!ec)
    impl_->acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(
        errc::unavailable,
        "http.listen: '" + impl_->options.listen + "': " + ec.message());
  }
  const auto port = impl_->acceptor->local_endpoint().port();
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  for (std::size_t i = 0;
       i < std::max<std::size_t>(impl_->options.io_threads, 1); ++i) {
    impl_->threads.emplace_back([this] { impl_->io.run(); });
  }
  return port;
}

void http_server::stop(std::chrono::milliseconds grace) {
  std::lock_guard guard(impl_->stop_mutex);
  if (impl_->threads.empty()) return;
  impl_->stopping = true;
  asio::post(impl_->io, [this] {
    boost::system::error_code ignored;
    if (impl_->acceptor) impl_->acceptor->close(ignored);
  });
  {
    std::unique_lock lock(impl_->flight_mutex);
    impl_->flight_done.wait_for(lock, grace,
                                [this] { return impl_->in_flight == 0; });
  }
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->drop_unanswered();
}

std::size_t http_server::in_flight() const {
  return impl_->in_flight;
}

}  // namespace emnist
