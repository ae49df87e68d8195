#include "train/train_checkpoint.h"

#include <filesystem>

#include "common/error.h"
#include "common/file_util.h"

namespace seedforge {

namespace {

c10::IValue read_value(torch::serialize::InputArchive& archive, const std::string& path, const std::string& key) {
  c10::IValue value;
  if (!archive.try_read(key, value)) throw input_error(path, ": checkpoint key '", key, "' is missing");
  return value;
}

std::string read_string(torch::serialize::InputArchive& archive, const std::string& path, const std::string& key) {
  const c10::IValue v = read_value(archive, path, key);
  if (!v.isString()) throw input_error(path, ": checkpoint key '", key, "' should be a string, got ", v.tagKind());
  return v.toStringRef();
}

int64_t read_int(torch::serialize::InputArchive& archive, const std::string& path, const std::string& key) {
  const c10::IValue v = read_value(archive, path, key);
  if (!v.isInt()) throw input_error(path, ": checkpoint key '", key, "' should be an int, got ", v.tagKind());
  return v.toInt();
}

torch::Tensor read_tensor(torch::serialize::InputArchive& archive, const std::string& path, const std::string& key) {
  const c10::IValue v = read_value(archive, path, key);
  if (!v.isTensor()) throw input_error(path, ": checkpoint key '", key, "' should be a tensor, got ", v.tagKind());
  return v.toTensor();
}

}  // namespace

std::string checkpoint_file(const std::string& dir) { return (std::filesystem::path(dir) / "bitnet_checkpoint.pt").string(); }

void save_train_checkpoint(const std::string& path, const TrainCheckpoint& c, torch::optim::Optimizer* optimizer) {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(std::string(kCheckpointFormat)));
  archive.write("version", c10::IValue(kCheckpointVersion));
  archive.write("fingerprint", c10::IValue(c.fingerprint));
  archive.write("options", c10::IValue(c.options_json));
  archive.write("step", c10::IValue(c.step));
  archive.write("total_steps", c10::IValue(c.total_steps));
  c10::List<std::string> names;
  c10::List<torch::Tensor> values;
  for (const auto& [name, tensor] : c.params) {
    names.push_back(name);
    values.push_back(tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous());
  }
  archive.write("param_names", c10::IValue(names));
  archive.write("param_values", c10::IValue(values));
  archive.write("losses", c10::IValue(torch::tensor(c.losses, torch::kFloat64)));
  archive.write("rng_cpu", c10::IValue(c.rng_cpu));
  archive.write("world_size", c10::IValue(c.world_size));
  // The nested archive shares the outer one's compilation unit, as libtorch's
  // own nested archives do (an archive of its own is not what torch::save makes).
  if (optimizer != nullptr) {
    torch::serialize::OutputArchive optimizer_archive(archive.compilation_unit());
    optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }

  check_output_path_writable(path);
  const std::string tmp = temporary_path_for(path);
  try {
    archive.save_to(tmp);
    std::filesystem::rename(tmp, path);
  } catch (const std::exception& e) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw runtime_error("could not write checkpoint ", path, ": ", e.what());
  }
}

TrainCheckpoint load_train_checkpoint(const std::string& path, torch::optim::Optimizer* optimizer) {
  if (!std::filesystem::is_regular_file(path)) throw input_error(path, ": no checkpoint to resume from (file missing)");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw input_error(path, ": not a readable seedforge checkpoint: ", e.what_without_backtrace());
  }
  const std::string format = read_string(archive, path, "format");
  if (format != kCheckpointFormat) {
    throw input_error(path, ": format is '", format, "', expected '", kCheckpointFormat, "'");
  }
  const int64_t version = read_int(archive, path, "version");
  if (version != kCheckpointVersion) {
    throw input_error(path, ": checkpoint version ", version, " is not supported (this build reads ", kCheckpointVersion, ")");
  }
  TrainCheckpoint c;
  c.fingerprint = read_string(archive, path, "fingerprint");
  c.options_json = read_string(archive, path, "options");
  c.step = read_int(archive, path, "step");
  c.total_steps = read_int(archive, path, "total_steps");
  if (c.step < 0 || c.total_steps < 1 || c.step > c.total_steps) {
    throw input_error(path, ": step ", c.step, " of ", c.total_steps, " is out of range");
  }
  const c10::IValue names = read_value(archive, path, "param_names");
  const c10::IValue values = read_value(archive, path, "param_values");
  if (!names.isList() || !values.isTensorList()) {
    throw input_error(path, ": param_names / param_values should be a list of names and a list of tensors");
  }
  const auto name_list = names.toListRef();
  const std::vector<torch::Tensor> tensor_list = values.toTensorVector();
  if (name_list.size() != tensor_list.size()) {
    throw input_error(path, ": ", name_list.size(), " parameter names but ", tensor_list.size(), " tensors");
  }
  for (size_t i = 0; i < name_list.size(); ++i) {
    if (!name_list[i].isString()) throw input_error(path, ": param_names[", i, "] is not a string");
    c.params.emplace_back(name_list[i].toStringRef(), tensor_list[i]);
  }
  const torch::Tensor losses = read_tensor(archive, path, "losses");
  if (losses.dim() != 1 || losses.size(0) != c.step || losses.scalar_type() != torch::kFloat64) {
    throw input_error(path, ": losses should be a [", c.step, "] float64 tensor, got ", losses.sizes(), " ",
                      losses.scalar_type());
  }
  c.losses.assign(losses.data_ptr<double>(), losses.data_ptr<double>() + c.step);
  c.rng_cpu = read_tensor(archive, path, "rng_cpu");
  // Absent in checkpoints written before data parallelism: one process.
  c10::IValue world;
  c.world_size = archive.try_read("world_size", world) ? (world.isInt() ? world.toInt() : -1) : 1;
  if (c.world_size < 1) throw input_error(path, ": checkpoint key 'world_size' should be an int >= 1");
  if (optimizer != nullptr) {
    torch::serialize::InputArchive optimizer_archive;
    if (!archive.try_read("optimizer", optimizer_archive)) throw input_error(path, ": checkpoint key 'optimizer' is missing");
    try {
      optimizer->load(optimizer_archive);
    } catch (const c10::Error& e) {
      throw input_error(path, ": optimizer state does not fit this model: ", e.what_without_backtrace());
    }
  }
  return c;
}

}  // namespace seedforge
