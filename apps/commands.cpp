// What the commands share: error reporting and exit codes.
#include "apps/commands.hpp"

#include <iostream>

namespace emnist::cli {

int report(const error& e) {
  std::cerr << "emnist: " << e.message << std::endl;
  switch (e.code) {
    case errc::invalid_argument:
    case errc::not_found:
    case errc::data_loss:
      return exit_bad_input;
    default:
      return exit_failure;
  }
}

}  // namespace emnist::cli
