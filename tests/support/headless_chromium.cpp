// posix_spawn of chromium in a process group of its own, its DevTools port
// read from the profile's DevToolsActivePort file, the page's WebSocket
// found in /json/list, and Beast's synchronous WebSocket client with a
// receive timeout on its socket.
#include "support/headless_chromium.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime/net/http_client.hpp"

extern char** environ;

namespace emnist::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
using clock_type = std::chrono::steady_clock;

namespace {

/// A reply or a page's start may take this long on a loaded machine.
constexpr auto step_limit = std::chrono::seconds(30);

}  // namespace

struct headless_chromium::connection {
  asio::io_context io;
  beast::websocket::stream<asio::ip::tcp::socket> ws{io};
};

headless_chromium::headless_chromium(const std::string& url) {
  std::string dir =
      (std::filesystem::temp_directory_path() / "emnist-chromium-XXXXXX")
          .string();
  if (::mkdtemp(dir.data()) == nullptr) {
    throw std::runtime_error("chromium: cannot make a profile directory");
  }
  profile_ = dir;
  std::vector<std::string> args = {"chromium",
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--no-first-run",
                                   "--no-default-browser-check",
                                   "--remote-debugging-port=0",
                                   "--user-data-dir=" + profile_.string(),
                                   url};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  const std::string log = (profile_ / "chromium.log").string();
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // A group of its own: the renderer and helpers stop with it.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  const int rc = ::posix_spawnp(&pid_, "chromium", &actions, &attributes,
                                argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("chromium: cannot start it (is it installed?)");
  }

  // Its DevTools port, then the page's WebSocket.
  const auto deadline = clock_type::now() + step_limit;
  std::string port;
  std::string page_path;
  while (clock_type::now() < deadline && page_path.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (port.empty()) {
      std::ifstream in(profile_ / "DevToolsActivePort");
      std::getline(in, port);
      if (port.empty()) continue;
    }
    auto list =
        http_request_to("GET", "http://127.0.0.1:" + port + "/json/list", "",
                        {}, std::chrono::seconds(5));
    if (!list || list->status != 200) continue;
    boost::system::error_code ec;
    const auto targets = boost::json::parse(list->body, ec);
    if (ec || !targets.is_array()) continue;
    // Its one page (the others are the browser's own: "browser_ui").
    for (const auto& t : targets.as_array()) {
      const auto* o = t.if_object();
      const auto* type = o != nullptr ? o->if_contains("type") : nullptr;
      if (type == nullptr || !type->is_string() ||
          type->as_string() != "page" || !o->contains("webSocketDebuggerUrl")) {
        continue;
      }
      const std::string ws(o->at("webSocketDebuggerUrl").as_string());
      page_path = ws.substr(ws.find('/', std::string("ws://").size()));
    }
  }
  if (page_path.empty()) {
    throw std::runtime_error("chromium: no page for " + url + " within 30 s");
  }
  connection_ = std::make_unique<connection>();
  auto& socket = connection_->ws.next_layer();
  socket.connect({asio::ip::make_address("127.0.0.1"),
                  static_cast<unsigned short>(std::stoi(port))});
  // Every read waits 30 s at most: a reply that never comes fails the test.
  timeval tv{static_cast<time_t>(step_limit.count()), 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  connection_->ws.handshake("127.0.0.1:" + port, page_path);
  // A headless page has no window focus: without this, focus() and typing
  // may reach no element.
  command("Emulation.setFocusEmulationEnabled", {{"enabled", true}});
}

headless_chromium::~headless_chromium() {
  if (connection_) {
    boost::system::error_code ignored;
    connection_->ws.next_layer().close(ignored);
  }
  if (pid_ > 0) {
    ::kill(-pid_, SIGTERM);
    const auto deadline = clock_type::now() + std::chrono::seconds(5);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (clock_type::now() > deadline) {
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(-pid_, SIGKILL);  // what of the group outlived it
  }
  std::error_code ignored;
  std::filesystem::remove_all(profile_, ignored);
}

boost::json::value headless_chromium::command(const std::string& method,
                                              boost::json::object params) {
  const std::int64_t id = next_id_++;
  const std::string out = boost::json::serialize(boost::json::object{
      {"id", id}, {"method", method}, {"params", std::move(params)}});
  auto& ws = connection_->ws;
  ws.text(true);
  ws.write(asio::buffer(out));
  // Events come in between; the answer carries the command's id.
  const auto deadline = clock_type::now() + step_limit;
  while (clock_type::now() < deadline) {
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    ws.read(buffer, ec);
    if (ec) {
      throw std::runtime_error("chromium: " + method + ": " + ec.message());
    }
    const auto message =
        boost::json::parse(beast::buffers_to_string(buffer.data()));
    const auto& o = message.as_object();
    if (!o.contains("id") || o.at("id").to_number<std::int64_t>() != id) {
      continue;
    }
    if (o.contains("error")) {
      throw std::runtime_error("chromium: " + method + ": " +
                               boost::json::serialize(o.at("error")));
    }
    return o.contains("result") ? o.at("result") : boost::json::value();
  }
  throw std::runtime_error("chromium: " + method + ": no answer within 30 s");
}

boost::json::value headless_chromium::evaluate(const std::string& expression) {
  auto r = command("Runtime.evaluate", {{"expression", expression},
                                        {"returnByValue", true},
                                        {"awaitPromise", true}});
  const auto& o = r.as_object();
  if (o.contains("exceptionDetails")) {
    throw std::runtime_error("chromium: " + expression + ": " +
                             boost::json::serialize(o.at("exceptionDetails")));
  }
  const auto& result = o.at("result").as_object();
  return result.contains("value") ? result.at("value") : boost::json::value();
}

bool headless_chromium::wait_for(const std::string& expression,
                                 std::chrono::milliseconds limit) {
  const auto deadline = clock_type::now() + limit;
  for (;;) {
    // An exception (the page not there yet) counts as false.
    const auto truthy = evaluate("(() => { try { return !!(" + expression +
                                 "); } catch (e) { return false; } })()");
    if (truthy.is_bool() && truthy.as_bool()) return true;
    if (clock_type::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void headless_chromium::type_and_enter(const std::string& text) {
  command("Input.insertText", {{"text", text}});
  for (const char* type : {"keyDown", "keyUp"}) {
    boost::json::object key{{"type", type},
                            {"key", "Enter"},
                            {"code", "Enter"},
                            {"windowsVirtualKeyCode", 13},
                            {"nativeVirtualKeyCode", 13}};
    if (std::string(type) == "keyDown") key["text"] = "\r";
    command("Input.dispatchKeyEvent", std::move(key));
  }
}

}  // namespace emnist::test
