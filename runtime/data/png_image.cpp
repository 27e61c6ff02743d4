// libpng's simplified read API: it handles every colour type and bit depth,
// and reports errors in `message` instead of longjmp-ing through our code.
// It reads from a FILE of our own (fopencookie) whose reads stop once the
// decode's CPU budget is spent: the simplified API takes no callback, and
// it reads every few KB of compressed pixels, so that is where a decode
// can be stopped.
#include "runtime/data/png_image.hpp"

#include <png.h>
#include <stdio.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "runtime/data/png_chunks.hpp"
#include "runtime/data/png_fast_reader.hpp"
#include "runtime/data/png_stream.hpp"

namespace emnist {
namespace {

error bad(const std::string& name, const std::string& what) {
  return make_error(errc::invalid_argument, name + ": " + what);
}

/// Frees libpng's state however the read ends.
struct png_reading {
  png_image image{};
  png_reading() { image.version = PNG_IMAGE_VERSION; }
  ~png_reading() { png_image_free(&image); }
  png_reading(const png_reading&) = delete;
  png_reading& operator=(const png_reading&) = delete;
};

bool has_signature(std::span<const std::byte> file) {
  return file.size() >= 8 &&
         png_sig_cmp(reinterpret_cast<png_const_bytep>(file.data()), 0, 8) == 0;
}

error no_signature(const std::string& name) {
  return bad(name, "not a PNG (the file does not start with PNG's signature)");
}

error over_budget(const std::string& name, const cpu_budget& budget) {
  return bad(
      name,
      "decoding took more than " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                             budget.limit())
                             .count()) +
          " ms of CPU, the most one image may take");
}

/// Bytes in memory as a read-only FILE whose reads fail once `budget` is
/// spent.
class budgeted_file {
 public:
  budgeted_file(std::span<const char> bytes, const cpu_budget& budget)
      : bytes_(bytes), budget_(budget) {
    file_ = ::fopencookie(this, "r",
                          {&budgeted_file::read, nullptr, nullptr, nullptr});
    // Unbuffered: each of libpng's reads reaches read() and the budget.
    if (file_ != nullptr) ::setvbuf(file_, nullptr, _IONBF, 0);
  }
  ~budgeted_file() {
    if (file_ != nullptr) ::fclose(file_);
  }
  budgeted_file(const budgeted_file&) = delete;
  budgeted_file& operator=(const budgeted_file&) = delete;

  FILE* get() const { return file_; }
  bool stopped() const { return stopped_; }
  /// libpng's message, in the words its memory reader uses for a file
  /// that ends too soon ("Read Error" is what a short fread gets).
  std::string message(const char* libpng_says) const {
    if (ran_out_ && std::strcmp(libpng_says, "Read Error") == 0) {
      return "read beyond end of data";
    }
    return libpng_says;
  }

 private:
  /// The clock is read (a system call) once 8 KB or 64 reads have gone
  /// by since it last was, and at the first read: libpng reads each
  /// chunk's header and CRC apart, and its pixels 8 KB at a time.
  static ssize_t read(void* cookie, char* out, std::size_t size) {
    auto* self = static_cast<budgeted_file*>(cookie);
    if (self->unchecked_bytes_ >= 8192 || self->unchecked_reads_ >= 64) {
      self->unchecked_bytes_ = self->unchecked_reads_ = 0;
      if (self->budget_.spent()) {
        self->stopped_ = true;
        errno = ETIMEDOUT;
        return -1;
      }
    }
    const std::size_t n = std::min(size, self->bytes_.size() - self->at_);
    std::memcpy(out, self->bytes_.data() + self->at_, n);
    self->at_ += n;
    self->unchecked_bytes_ += n;
    ++self->unchecked_reads_;
    if (n < size) self->ran_out_ = true;
    return static_cast<ssize_t>(n);
  }

  std::span<const char> bytes_;
  const cpu_budget& budget_;
  std::size_t at_ = 0;
  std::size_t unchecked_bytes_ = 0, unchecked_reads_ = 64;
  bool stopped_ = false, ran_out_ = false;
  FILE* file_ = nullptr;
};

/// One grey shade a pixel: Rec. 601 luma of colour, and transparent pixels
/// laid on the shade that contrasts with the opaque ones.
/// Rec. 601 luma in integers (weights out of 256), `Channels` bytes a
/// pixel as a constant: the compiler vectorizes it then.
template <std::size_t Channels>
void luma(const std::uint8_t* p, std::uint8_t* grey, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i, p += Channels) {
    grey[i] =
        static_cast<std::uint8_t>((77 * p[0] + 150 * p[1] + 29 * p[2]) >> 8);
  }
}

grey_image to_grey(const png_pixels& px) {
  const std::size_t n = px.width * px.height, channels = px.channels();
  grey_image out{px.width, px.height, std::vector<std::uint8_t>(n)};
  // Plain pointers: through the vectors, every byte stored could alias
  // their own pointers, and the loops would reload them each pixel.
  std::uint8_t* grey = out.pixels.data();
  const std::uint8_t* p = px.samples.data();
  if (px.colour) {
    if (px.alpha) {
      luma<4>(p, grey, n);
    } else {
      luma<3>(p, grey, n);
    }
  } else {
    for (std::size_t i = 0; i < n; ++i, p += channels) grey[i] = p[0];
  }
  if (!px.alpha) return out;
  const std::uint8_t* opacity = px.samples.data() + channels - 1;
  double opaque_sum = 0, weight = 0;
  for (std::size_t i = 0; i < n; ++i) {
    opaque_sum += static_cast<double>(grey[i]) * opacity[i * channels];
    weight += opacity[i * channels];
  }
  const int under = weight > 0 && opaque_sum / weight < 128 ? 255 : 0;
  for (std::size_t i = 0; i < n; ++i) {
    const int g = grey[i], a = opacity[i * channels];
    grey[i] =
        static_cast<std::uint8_t>((g * a + under * (255 - a) + 127) / 255);
  }
  return out;
}

/// The file as libpng is given it: its chunks up to IEND, less the
/// ancillary ones that do not bear on the pixels (text, times, unknown
/// kinds), which libpng would otherwise read, inflate and keep: up to 8 MB
/// from each of a thousand compressed text chunks in one small file. A
/// chunk that claims more bytes than the file has left, or whose type is
/// not four letters, is refused here, where the file's offset is known:
/// libpng allocates the length a chunk claims before it finds the bytes
/// missing (2 GB for a 300-byte file, found by fuzzing).
expected<std::string> chunks_for_libpng(std::span<const std::byte> file,
                                        const std::string& name) {
  std::string kept(reinterpret_cast<const char*>(file.data()),
                   png_signature_size);
  std::size_t pos = png_signature_size;
  while (pos < file.size()) {
    const auto chunk = png_chunk_at(file, pos);
    if (!chunk) {
      if (file.size() - pos < png_chunk_overhead) break;  // libpng's to say
      return bad(name,
                 "damaged or truncated PNG: the chunk at byte " +
                     std::to_string(pos) + " says it holds " +
                     std::to_string(png_be32(&file[pos])) +
                     " bytes, and the file has " +
                     std::to_string(file.size() - pos - png_chunk_overhead) +
                     " after its header");
    }
    if (!png_chunk_type_valid(chunk->type)) {
      return bad(name, "damaged PNG: the chunk at byte " + std::to_string(pos) +
                           " has no type (four letters)");
    }
    pos = chunk->end();
    if (chunk->ancillary() && chunk->type != "sRGB" &&
        !png_chunk_changes_rendering(chunk->type)) {
      continue;
    }
    kept.append(reinterpret_cast<const char*>(&file[chunk->offset]),
                chunk->end() - chunk->offset);
    if (chunk->type == "IEND") return kept;
  }
  kept.append(reinterpret_cast<const char*>(file.data()) + pos,
              file.size() - pos);
  return kept;
}

}  // namespace

expected<png_pixels> read_png_with_libpng(std::span<const std::byte> file,
                                          const std::string& name,
                                          std::size_t max_pixels,
                                          const cpu_budget& budget) {
  if (!has_signature(file)) return no_signature(name);
  const auto chunks = chunks_for_libpng(file, name);
  if (!chunks) return chunks.error();
  // Declared before libpng's state, which reads it until it is freed.
  budgeted_file in(std::span(chunks->data(), chunks->size()), budget);
  if (in.get() == nullptr) {
    return make_error(errc::internal, name + ": cannot read: out of memory");
  }
  png_reading r;
  if (png_image_begin_read_from_stdio(&r.image, in.get()) == 0) {
    if (in.stopped()) return over_budget(name, budget);
    return bad(name, "not a readable PNG: " + in.message(r.image.message));
  }
  const std::size_t w = r.image.width, h = r.image.height;
  if (w == 0 || h == 0) return bad(name, "the image has zero size");
  if (w > max_pixels / h) {
    return bad(name, "too large: " + std::to_string(w) + "x" +
                         std::to_string(h) + " pixels, at most " +
                         std::to_string(max_pixels));
  }
  // libpng inflates the whole stream, whatever follows the last row (a
  // 1 MB file inflated 1 GB for a 28x28 image): the stream may inflate to
  // the rows IHDR (first, as libpng has checked) declares, and no more.
  const auto kept = std::as_bytes(std::span(chunks->data(), chunks->size()));
  const auto ihdr = png_chunk_at(kept, png_signature_size);
  if (const auto rows = ihdr ? png_inflated_size(ihdr->data) : std::nullopt) {
    switch (check_png_stream(kept, *rows, budget)) {
      case png_stream::excess:
        return bad(name,
                   "too much image data: the pixels inflate to more "
                   "than the " +
                       std::to_string(*rows) + " bytes of its " +
                       std::to_string(w) + "x" + std::to_string(h) +
                       " rows (a decompression bomb, or a damaged "
                       "file)");
      case png_stream::over_budget:
        return over_budget(name, budget);
      case png_stream::fits:
        break;
    }
  }
  // Read in the file's own colour layout, 8 bits a channel: asking libpng
  // to make grey of colour runs its gamma-correct conversion, ten times
  // slower than to_grey's luma sum.
  png_pixels px{w,
                h,
                (r.image.format & PNG_FORMAT_FLAG_COLOR) != 0,
                (r.image.format & PNG_FORMAT_FLAG_ALPHA) != 0,
                {}};
  r.image.format = (px.colour ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY) |
                   (px.alpha ? PNG_FORMAT_FLAG_ALPHA : 0u);
  px.samples.resize(PNG_IMAGE_SIZE(r.image));
  if (png_image_finish_read(&r.image, nullptr, px.samples.data(), 0, nullptr) ==
      0) {
    if (in.stopped()) return over_budget(name, budget);
    return bad(name,
               "damaged or truncated PNG: " + in.message(r.image.message));
  }
  return px;
}

expected<grey_image> decode_png(std::span<const std::byte> file,
                                const std::string& name, std::size_t max_pixels,
                                const cpu_budget& budget) {
  if (!has_signature(file)) return no_signature(name);
  if (auto fast = read_png_fast(file, max_pixels, budget)) {
    return to_grey(*fast);
  }
  auto px = read_png_with_libpng(file, name, max_pixels, budget);
  if (!px) return px.error();
  return to_grey(*px);
}

}  // namespace emnist
