// seedforge._core: the C++ library's calls for Python (pybind11), wrapped by
// the pure-Python package python/seedforge/. A thin layer, like the stage1
// tool: each function converts arguments, calls one library function and
// converts the result. Tensors cross as torch.Tensor through libtorch's own
// pybind11 casters (torch/extension.h), which wrap the same storage: no copy.
//
// Threads and signals: the long calls release the GIL, so Python threads run
// meanwhile, and install the library's SIGINT/SIGTERM handlers for their
// duration (Python's come back after), so Ctrl-C stops a run at its next safe
// point exactly as it stops `stage1` (checkpoint written, nothing half
// written), and surfaces as KeyboardInterrupt. A second Ctrl-C while the
// first is pending ends the process, as it does for the tool.
#include <torch/extension.h>

#include <pybind11/stl.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/interrupt.h"
#include "config/stage1_config.h"
#include "eval/eval_report.h"
#include "io/checkpoint.h"
#include "io/hf_config.h"
#include "pipeline/plan_stage1.h"
#include "pipeline/run_stage1.h"
#include "pipeline/stage1_file.h"
#include "pipeline/stage1_model.h"

namespace py = pybind11;
using namespace seedforge;

namespace {

// JSON crosses as text through Python's json module: one well-tested path for
// every value type (ints stay ints, floats round-trip exactly).
py::object json_to_python(const nlohmann::json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

std::string python_to_json_text(const py::handle& value) {
  return py::module_::import("json").attr("dumps")(value, py::arg("allow_nan") = false).cast<std::string>();
}

// FileNotFoundError(ENOENT, message, path), as open() raises it.
[[noreturn]] void raise_file_not_found(const std::string& what, const std::string& path) {
  PyErr_SetObject(PyExc_FileNotFoundError, py::make_tuple(ENOENT, what + " '" + path + "' does not exist", path).ptr());
  throw py::error_already_set();
}

void require_exists(const std::string& what, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) raise_file_not_found(what, path);
}

// config: None (defaults), a path (str or os.PathLike: a JSON file) or a
// dict (the JSON object itself). Unknown keys and bad values raise ValueError
// naming the dotted key, as the tool's config errors do.
Stage1Config config_from_python(const py::object& config, std::string* where) {
  if (config.is_none()) {
    *where = "defaults";
    return default_stage1_config();
  }
  if (py::isinstance<py::dict>(config)) {
    *where = "config";
    return parse_stage1_config(python_to_json_text(config), *where);
  }
  const py::object fspath = py::module_::import("os").attr("fspath");
  py::object path_object;
  try {
    path_object = fspath(config);
  } catch (const py::error_already_set&) {
    throw py::type_error("config must be None, a dict or a path to a JSON file, not " +
                         py::str(py::type::of(config).attr("__name__")).cast<std::string>());
  }
  *where = path_object.cast<std::string>();
  require_exists("config file", *where);
  return load_stage1_config(*where);
}

std::string path_string(const py::object& path) {
  return py::module_::import("os").attr("fspath")(path).cast<std::string>();
}

py::dict progress_dict(const Stage1Progress& p) {
  py::dict d;
  if (p.step > 0) {
    d["kind"] = "step";
    d["step"] = p.step;
    d["total_steps"] = p.total_steps;
    d["loss"] = p.loss;
    d["lambda"] = p.lambda;
    d["lr"] = p.lr;
    d["tokens_per_second"] = p.tokens_per_second;
    d["eta_seconds"] = p.eta_seconds;
  } else {
    d["kind"] = "line";
    d["line"] = p.line;
  }
  return d;
}

py::object run_stage1_py(const py::object& input_path, const py::object& output_path, const py::object& config_arg,
                         bool resume, bool dry_run, const py::object& progress, const std::string& report_path) {
  const std::string input = path_string(input_path), output = path_string(output_path);
  std::string where;
  const Stage1Config config = config_from_python(config_arg, &where);
  validate(config, where);
  require_exists("input", input);
  if (dry_run) {
    Stage1Plan plan;
    {
      py::gil_scoped_release no_gil;
      plan = plan_stage1(input, output, config);
    }
    return json_to_python(plan_json(plan));
  }
  // The callable's first exception stops the run (as Ctrl-C would) and is
  // raised in its place once the run has stopped.
  std::unique_ptr<py::error_already_set> callback_error;
  Stage1RunOptions options;
  options.report_path = report_path;
  options.resume = resume;
  if (!progress.is_none()) {
    if (!PyCallable_Check(progress.ptr())) throw py::type_error("progress must be callable or None");
    options.progress = [&progress, &callback_error](const Stage1Progress& p) {
      py::gil_scoped_acquire gil;
      if (callback_error) return;
      try {
        progress(progress_dict(p));
      } catch (py::error_already_set& e) {
        callback_error = std::make_unique<py::error_already_set>(std::move(e));
        request_interrupt(SIGINT);
      }
    };
  }
  Stage1Report report;
  try {
    ScopedInterruptHandlers signals;
    py::gil_scoped_release no_gil;
    report = run_stage1(input, output, config, options);
  } catch (const InterruptedError&) {
    if (callback_error) throw std::move(*callback_error);
    throw;
  }
  // The run finished before it reached a point where it could stop.
  if (callback_error) throw std::move(*callback_error);
  return json_to_python(report_json(report));
}

py::tuple load_py(const py::object& path_arg, bool with_addresses) {
  const std::string path = path_string(path_arg);
  require_exists("model", path);
  Checkpoint checkpoint;
  {
    py::gil_scoped_release no_gil;
    // load_checkpoint() reads the raw formats; a .stage1.pt is the pipeline's
    // own format, decoded here as `stage1 decode` does.
    if (is_stage1_file(path)) {
      const Stage1File file = read_stage1_file(path);
      checkpoint.config = file.config;
      checkpoint.tensors = decode_stage1(file, path);
      checkpoint.format = "stage1";
      checkpoint.path = path;
      checkpoint.tokenizer_kind = file.tokenizer_kind;
    } else {
      checkpoint = load_checkpoint(path);
    }
  }
  py::dict tensors, addresses;
  for (const auto& [name, tensor] : checkpoint.tensors) {
    tensors[py::str(name)] = tensor;  // wraps the same storage
    if (with_addresses) addresses[py::str(name)] = reinterpret_cast<uintptr_t>(tensor.data_ptr());
  }
  py::dict info;
  info["format"] = checkpoint.format;
  info["path"] = checkpoint.path;
  info["tokenizer_path"] = checkpoint.tokenizer_path;
  info["tokenizer_kind"] = checkpoint.tokenizer_kind;
  return py::make_tuple(tensors, json_to_python(nlohmann::json::parse(hf_config_json(checkpoint.config))), info,
                        addresses);
}

py::dict decode_py(const py::object& path_arg) {
  const std::string path = path_string(path_arg);
  require_exists("model", path);
  StateDict tensors;
  {
    py::gil_scoped_release no_gil;
    const Stage1File file = read_stage1_file(path);
    tensors = decode_stage1(file, path);
  }
  py::dict out;
  for (const auto& [name, tensor] : tensors) out[py::str(name)] = tensor;
  return out;
}

py::object evaluate_py(const py::object& model, const py::object& text, const py::object& hellaswag,
                       const py::object& tokenizer, const py::object& compare, int64_t max_docs, int64_t max_tasks,
                       const std::string& engine, const std::string& device, int64_t batch_tokens, bool speed,
                       bool progress) {
  EvalRequest request;
  request.model = path_string(model);
  require_exists("model", request.model);
  const auto optional_path = [](const py::object& p, const char* what) {
    if (p.is_none()) return std::string();
    const std::string s = path_string(p);
    require_exists(what, s);
    return s;
  };
  request.text = optional_path(text, "text");
  request.hellaswag = optional_path(hellaswag, "hellaswag file");
  request.tokenizer = optional_path(tokenizer, "tokenizer");
  request.compare = optional_path(compare, "compare model");
  if (max_docs < 0 || max_tasks < 0 || batch_tokens < 0) {
    throw py::value_error("max_docs, max_tasks and batch_tokens must be >= 0");
  }
  request.max_docs = max_docs;
  request.max_tasks = max_tasks;
  request.device = device;
  request.batch_tokens = batch_tokens;
  request.speed = speed;
  request.progress = progress;
  const ModelEngine which = parse_model_engine(engine);
  request.loader = [which](const std::string& path, const std::string& tok, torch::Device dev) {
    return open_model(path, tok, dev, which);
  };
  EvalReport report;
  {
    ScopedInterruptHandlers signals;
    py::gil_scoped_release no_gil;
    report = run_evaluation(request);
  }
  return json_to_python(eval_report_json(report));
}

py::object check_config_py(const py::object& config) {
  std::string where;
  const Stage1Config c = config_from_python(config, &where);
  validate(c, where);
  return json_to_python(to_json(c));
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "seedforge's C++ library for Python; use the seedforge package, which wraps it.";

  // The library's errors by kind: bad config or arguments -> ValueError,
  // a corrupt or inconsistent input file -> seedforge.InputError (a
  // ValueError), anything else -> RuntimeError; a run stopped by a signal ->
  // KeyboardInterrupt. Missing files are FileNotFoundError (checked here).
  static py::exception<Error> input_error_type(m, "InputError", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InterruptedError& e) {
      PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    } catch (const Error& e) {
      switch (e.kind()) {
        case ErrorKind::kUsage:
          PyErr_SetString(PyExc_ValueError, e.what());
          break;
        case ErrorKind::kInput:
          PyErr_SetString(input_error_type.ptr(), e.what());
          break;
        case ErrorKind::kRuntime:
          PyErr_SetString(PyExc_RuntimeError, e.what());
          break;
      }
    }
  });

  m.def("run_stage1", &run_stage1_py, py::arg("input_path"), py::arg("output_path"), py::arg("config"),
        py::arg("resume"), py::arg("dry_run"), py::arg("progress"), py::arg("report_path"));
  m.def("load", &load_py, py::arg("path"), py::arg("with_addresses"));
  m.def("decode", &decode_py, py::arg("path"));
  m.def("evaluate", &evaluate_py, py::arg("model"), py::arg("text"), py::arg("hellaswag"), py::arg("tokenizer"),
        py::arg("compare"), py::arg("max_docs"), py::arg("max_tasks"), py::arg("engine"), py::arg("device"),
        py::arg("batch_tokens"), py::arg("speed"), py::arg("progress"));
  m.def("default_config", [] { return json_to_python(to_json(default_stage1_config())); });
  m.def("check_config", &check_config_py, py::arg("config"));
}
