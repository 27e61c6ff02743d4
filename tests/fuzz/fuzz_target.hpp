// One fuzz target: a function of the bytes that must never crash, hang,
// leak or trip a sanitizer, and that checks what the parser promises (an
// error names its input; what decodes encodes back the same). It returns
// whether its parser accepted the input, so that the suite can tell a
// parser that refuses everything from one that works.
//
//   EMNIST_FUZZ_TARGET(block_codec) {  // data, size
//     auto b = decode_block(...);
//     if (!b) return false;
//     fuzz_check(..., "a decoded block encodes back to its bytes");
//     return true;
//   }
//
// Built two ways: with clang and -fsanitize=fuzzer (scripts/fuzz.sh), each
// target is a libFuzzer program; in the doctest suite (tests/fuzz/
// corpus_test.cpp), every target runs over its seed corpus and former
// crashers on every build, sanitizer builds included.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace emnist::fuzz {

/// True when the target's parser accepted the input.
using target_function = bool (*)(const std::uint8_t* data, std::size_t size);

/// Every target linked in, by name (the folder of its corpus).
std::map<std::string, target_function>& targets();

struct registration {
  registration(const char* name, target_function f) { targets()[name] = f; }
};

/// A broken promise: abort, which libFuzzer reports as a crash with the
/// input, and the suite as a failed test.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "fuzz check failed: %s\n", what);
  std::abort();
}

inline void check(bool ok, const char* what) {
  if (!ok) fail(what);
}

}  // namespace emnist::fuzz

#ifdef EMNIST_LIBFUZZER
// One target per program: libFuzzer calls it.
#define EMNIST_FUZZ_TARGET(name)                                       \
  static bool fuzz_##name(const std::uint8_t* data, std::size_t size); \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,      \
                                        std::size_t size) {            \
    (void)fuzz_##name(data, size);                                     \
    return 0;                                                          \
  }                                                                    \
  static bool fuzz_##name(const std::uint8_t* data, std::size_t size)
#else
// All targets in the suite, registered by name.
#define EMNIST_FUZZ_TARGET(name)                                          \
  static bool fuzz_##name(const std::uint8_t* data, std::size_t size);    \
  static const ::emnist::fuzz::registration register_##name{#name,        \
                                                            fuzz_##name}; \
  static bool fuzz_##name(const std::uint8_t* data, std::size_t size)
#endif
