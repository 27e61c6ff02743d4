// Loopback ports for test servers: a free one, and whether one accepts.
#pragma once

#include <cstdint>

namespace emnist::test {

/// A port nothing listens on now (bound and released: take it soon).
std::uint16_t free_port();
/// True when something accepts TCP connections on 127.0.0.1:port.
bool accepts(std::uint16_t port);

}  // namespace emnist::test
