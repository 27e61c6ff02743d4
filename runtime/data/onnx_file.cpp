// The ONNX graph of the network, built as protobuf messages with libonnx's
// generated classes and validated by onnx::checker before it is written.
#include "runtime/data/onnx_file.hpp"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <bit>
#include <boost/json.hpp>
#include <cstring>
#include <limits>
#include <vector>

#include "base/printable.hpp"
#include "runtime/data/file_io.hpp"

namespace emnist {
namespace {

static_assert(std::endian::native == std::endian::little,
              "ONNX raw_data is little-endian");

/// The operator set the graph is written for (ONNX 1.8 and later read it).
constexpr std::int64_t opset_version = 13;

constexpr const char* input_name = "pixels";
constexpr const char* output_name = "probabilities";

void add_tensor(onnx::GraphProto& graph, const char* name,
                std::vector<std::int64_t> dims, const float* data,
                std::size_t count) {
  auto* t = graph.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (const auto d : dims) t->add_dims(d);
  t->set_raw_data(
      std::string(reinterpret_cast<const char*>(data), count * sizeof(float)));
}

void add_node(onnx::GraphProto& graph, const char* op,
              std::initializer_list<const char*> inputs, const char* output) {
  auto* n = graph.add_node();
  n->set_op_type(op);
  n->set_name(std::string(op) + "_" + output);
  for (const char* i : inputs) n->add_input(i);
  n->add_output(output);
}

void set_matrix_type(onnx::ValueInfoProto& v, const char* name,
                     std::int64_t columns) {
  v.set_name(name);
  auto* t = v.mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = t->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  shape->add_dim()->set_dim_value(columns);
}

void add_metadata(onnx::ModelProto& model, const char* key,
                  const std::string& value) {
  auto* p = model.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

error bad(const std::string& name, const std::string& what) {
  return make_error(errc::invalid_argument, name + ": " + what);
}

/// A float tensor's values, from raw_data or float_data.
expected<std::vector<float>> floats_of(const onnx::TensorProto& t,
                                       const std::string& where) {
  if (t.data_type() != onnx::TensorProto::FLOAT) {
    return bad(where, "not a float32 tensor");
  }
  std::size_t count = 1;
  for (const auto d : t.dims()) {
    if (d < 0 || d > (1 << 24)) return bad(where, "a dimension out of range");
    count *= static_cast<std::size_t>(d);
    if (count > (std::size_t{1} << 28)) return bad(where, "too large");
  }
  // The data must be there before anything is allocated for it: a few
  // bytes of dimensions must not cost a gigabyte.
  if (t.has_raw_data()) {
    if (t.raw_data().size() != count * sizeof(float)) {
      return bad(where, "raw_data holds " +
                            std::to_string(t.raw_data().size()) +
                            " bytes, its dimensions say " +
                            std::to_string(count * sizeof(float)));
    }
    std::vector<float> values(count);
    std::memcpy(values.data(), t.raw_data().data(), t.raw_data().size());
    return values;
  }
  if (static_cast<std::size_t>(t.float_data_size()) != count) {
    return bad(where, "float_data does not match its dimensions");
  }
  return std::vector<float>(t.float_data().begin(), t.float_data().end());
}

}  // namespace

expected<void> write_onnx(const std::filesystem::path& path,
                          const saved_model& model) {
  auto bytes = encode_onnx(model, path.string());
  if (!bytes) return bytes.error();
  return write_file_atomically(path, *bytes);
}

expected<std::string> encode_onnx(const saved_model& model,
                                  const std::string& name) {
  if (auto fits = check_model_fits(model, name); !fits) return fits.error();
  const auto& s = model.shape;
  onnx::ModelProto m;
  m.set_ir_version(onnx::IR_VERSION);
  m.set_producer_name("emnist");
  m.set_model_version(1);
  m.set_doc_string(
      "EMNIST classifier: softmax(tanh((pixels * input_scale) w1) w2). "
      "Input: N images of 0-255 pixels in EMNIST's storage order "
      "(metadata pixel_order). Output: the probability of each class "
      "(metadata labels).");
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(opset_version);

  auto& g = *m.mutable_graph();
  g.set_name("emnist_mlp");
  const auto inputs = static_cast<std::int64_t>(s.inputs);
  const auto hidden = static_cast<std::int64_t>(s.hidden);
  const auto classes = static_cast<std::int64_t>(s.classes);
  add_tensor(g, "input_scale", {}, &model.input_scale, 1);
  add_tensor(g, "w1", {inputs, hidden}, model.parameters.data(), s.w1_size());
  add_tensor(g, "w2", {hidden, classes}, model.parameters.data() + s.w1_size(),
             s.size() - s.w1_size());
  set_matrix_type(*g.add_input(), input_name, inputs);
  set_matrix_type(*g.add_output(), output_name, classes);
  add_node(g, "Mul", {input_name, "input_scale"}, "scaled");
  add_node(g, "MatMul", {"scaled", "w1"}, "hidden_in");
  add_node(g, "Tanh", {"hidden_in"}, "hidden");
  add_node(g, "MatMul", {"hidden", "w2"}, "logits");
  add_node(g, "Softmax", {"logits"}, output_name);
  auto* axis = g.mutable_node(4)->add_attribute();
  axis->set_name("axis");
  axis->set_type(onnx::AttributeProto::INT);
  axis->set_i(1);

  boost::json::array labels;
  for (const auto& l : model.labels) labels.emplace_back(l);
  add_metadata(m, "labels", boost::json::serialize(labels));
  add_metadata(m, "pixel_order", emnist_pixel_order);
  add_metadata(m, "input_scale", std::to_string(model.input_scale));
  try {
    onnx::checker::check_model(m);
  } catch (const std::exception& e) {
    // A bug of ours, not of the caller's: say what the checker said.
    return make_error(
        errc::internal,
        name + ": the ONNX checker refused the graph: " + e.what());
  }
  std::string bytes;
  if (!m.SerializeToString(&bytes)) {
    return make_error(errc::internal, name + ": cannot serialize");
  }
  return bytes;
}

expected<saved_model> read_onnx(const std::filesystem::path& path) {
  auto raw = read_whole_file(path);
  if (!raw) return raw.error();
  return parse_onnx(std::as_bytes(std::span(raw->data(), raw->size())),
                    path.string());
}

expected<saved_model> parse_onnx(std::span<const std::byte> file,
                                 const std::string& name) {
  if (file.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return bad(name, "too large for an ONNX model");
  }
  onnx::ModelProto m;
  if (!m.ParseFromArray(file.data(), static_cast<int>(file.size()))) {
    return bad(name, "not an ONNX model (protobuf ModelProto)");
  }
  const auto& g = m.graph();
  std::string ops;
  for (const auto& n : g.node()) ops += (ops.empty() ? "" : ",") + n.op_type();
  if (ops != "Mul,MatMul,Tanh,MatMul,Softmax") {
    return bad(name, "not the graph emnist writes (nodes " +
                         printable(ops, 120) +
                         ", expected Mul,MatMul,Tanh,MatMul,Softmax)");
  }
  std::vector<float> w1, w2, scale;
  std::vector<std::int64_t> w1_dims, w2_dims;
  for (const auto& t : g.initializer()) {
    std::vector<float>* into = t.name() == "w1"            ? &w1
                               : t.name() == "w2"          ? &w2
                               : t.name() == "input_scale" ? &scale
                                                           : nullptr;
    if (into == nullptr) continue;
    auto values = floats_of(t, name + ", initializer " + t.name());
    if (!values) return values.error();
    *into = std::move(*values);
    if (t.name() == "w1") w1_dims.assign(t.dims().begin(), t.dims().end());
    if (t.name() == "w2") w2_dims.assign(t.dims().begin(), t.dims().end());
  }
  if (w1_dims.size() != 2 || w2_dims.size() != 2 || scale.size() != 1 ||
      w1_dims[1] != w2_dims[0] || w1_dims[0] < 1 || w1_dims[1] < 1 ||
      w2_dims[1] < 1) {
    return bad(name,
               "initializers w1 (inputs x hidden), w2 (hidden x classes) "
               "and input_scale (a scalar) missing or not fitting together");
  }
  saved_model out;
  out.shape = {static_cast<std::size_t>(w1_dims[0]),
               static_cast<std::size_t>(w1_dims[1]),
               static_cast<std::size_t>(w2_dims[1])};
  out.input_scale = scale[0];
  out.parameters = std::move(w1);
  out.parameters.insert(out.parameters.end(), w2.begin(), w2.end());
  for (const auto& p : m.metadata_props()) {
    if (p.key() != "labels") continue;
    boost::system::error_code ec;
    auto v = boost::json::parse(p.value(), ec);
    if (ec || !v.is_array()) {
      return bad(name, "metadata labels: not a JSON array");
    }
    for (const auto& l : v.as_array()) {
      if (!l.is_string()) return bad(name, "metadata labels: not strings");
      out.labels.emplace_back(l.as_string());
    }
  }
  if (out.labels.size() != out.shape.classes) {
    return bad(name, "metadata labels: " + std::to_string(out.labels.size()) +
                         " labels for " + std::to_string(out.shape.classes) +
                         " classes");
  }
  return out;
}

}  // namespace emnist
